"""Recall intervals with units → whole months (``interval_months``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flitstack.transform import TransformContext, apply
from flitstack.transform.intervals import MAX_INTERVAL_MONTHS

CTX = TransformContext()
MONTHS = ["m", "mo", "mos", "month", "months", "mth", "mths"]
YEARS = ["y", "yr", "yrs", "year", "years"]
WEEKS = ["w", "wk", "wks", "week", "weeks"]


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        *[("6", 6), ("6m", 6), ("6 mo", 6), ("6 mos", 6), ("6 months", 6), ("06", 6)],
        *[("1y", 12), ("1 yr", 12), ("2 yrs", 24), ("1 year", 12), ("1.5 years", 18)],
        *[("26w", 6), ("26 wks", 6), ("52 weeks", 12), ("13 wk", 3), ("4 weeks", 1)],
        *[("6 Mos.", 6), (" 12 MONTHS ", 12), ("1 yr 6 mos", 18), ("182 days", 6)],
        *[("3.0", 3), ("0", 0), ("120", 120)],
    ],
)
def test_intervals_in_every_spelling(raw: str, want: int) -> None:
    out = apply("interval_months", raw, CTX)
    assert out.ok and out.value == want and isinstance(out.value, int)


@pytest.mark.parametrize(
    "raw",
    [
        *["junk", "six months", "6 fortnights", "-6", "6-12", "6/12", "1e2", "6 6"],
        *["6.5", "1.1 yr", "1 yr 1 yr", "6 mos 3", "mos", "2w", "1 day", "121", "11 years"],
        *["٦", "6 mos; 3 mos", ", 6", "and 6"],
    ],
)
def test_bad_intervals_fail_with_reason(raw: str) -> None:
    out = apply("interval_months", raw, CTX)
    assert not out.ok and out.value is None and out.reason


def test_interval_nulls_are_empty() -> None:
    for raw in (None, "", "  ", "NULL", "N/A"):
        out = apply("interval_months", raw, CTX)
        assert out.ok and out.value is None


@given(
    months=st.integers(0, MAX_INTERVAL_MONTHS),
    unit=st.sampled_from(["", *MONTHS]),
    space=st.sampled_from(["", " "]),
)
def test_months_round_trip(months: int, unit: str, space: str) -> None:
    raw = f"{months}{space if unit else ''}{unit}"
    assert apply("interval_months", raw, CTX).value == months


@given(years=st.integers(0, MAX_INTERVAL_MONTHS // 12), unit=st.sampled_from(YEARS))
def test_years_are_twelve_months(years: int, unit: str) -> None:
    assert apply("interval_months", f"{years} {unit}", CTX).value == years * 12


@given(weeks=st.integers(3, 520), unit=st.sampled_from(WEEKS), cased=st.booleans())
def test_weeks_round_to_months(weeks: int, unit: str, cased: bool) -> None:
    raw = f"{weeks}{unit.upper() if cased else unit}"
    assert apply("interval_months", raw, CTX).value == round(weeks * 12 / 52)


@given(st.text(max_size=20))
def test_any_text_is_a_month_count_or_a_reason(raw: str) -> None:
    out = apply("interval_months", raw, CTX)
    if out.ok and out.value is not None:
        assert isinstance(out.value, int) and 0 <= out.value <= MAX_INTERVAL_MONTHS
    elif not out.ok:
        assert out.reason and out.value is None
