"""Durations in the spellings exports use (``90 min``, ``1h30``, ``1:30``, ``1.5h``) → ``HH:MM``."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from flitstack.transform import TransformContext, apply

CTX = TransformContext()
HOURS = ["h", "hr", "hrs", "hour", "hours"]
MINUTES = ["m", "min", "mins", "minute", "minutes"]


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        *[("90", "01:30"), ("90 min", "01:30"), ("90 mins", "01:30"), ("90m", "01:30")],
        *[("1h30", "01:30"), ("1h 30m", "01:30"), ("1:30", "01:30"), ("1.5h", "01:30")],
        *[("2 hours", "02:00"), ("1 hr 15 min", "01:15"), ("1 hour and 30 minutes", "01:30")],
        *[("0:45:00", "00:45"), ("23:59", "23:59"), ("1.25 hrs", "01:15"), ("45 Min.", "00:45")],
        *[("+30", "00:30"), ("0", "00:00"), ("1H30M", "01:30"), (".5h", "00:30")],
    ],
)
def test_duration_spellings(raw: str, want: str) -> None:
    out = apply("duration", raw, CTX)
    assert out.ok and out.value == want


@pytest.mark.parametrize(
    "raw",
    [
        *["1.5", "1.33h", "1h 75", "1:75", "24:00", "24h", "30m 1h", "1h 2h", "90 sec"],
        *["1:30:15", "ninety", "-30", "1e9", "h", "1h30m15", "٩٠"],
    ],
)
def test_bad_durations_fail_with_reason(raw: str) -> None:
    out = apply("duration", raw, CTX)
    assert not out.ok and out.value is None and out.reason


@given(
    minutes=st.integers(0, 24 * 60 - 1),
    style=st.sampled_from(["plain", "unit", "hm", "clock", "decimal"]),
    hour_unit=st.sampled_from(HOURS),
    minute_unit=st.sampled_from(MINUTES),
    space=st.sampled_from(["", " "]),
)
def test_every_spelling_round_trips(
    minutes: int, style: str, hour_unit: str, minute_unit: str, space: str
) -> None:
    assume(style != "decimal" or minutes % 15 == 0)  # 4 decimals of an hour: whole minutes
    hours, rest = divmod(minutes, 60)
    raw = {
        "plain": str(minutes),
        "unit": f"{minutes}{space}{minute_unit}",
        "hm": f"{hours}{space}{hour_unit}{space}{rest}{space}{minute_unit}",
        "clock": f"{hours}:{rest:02d}",
        "decimal": f"{minutes / 60:.4f}{space}{hour_unit}",
    }[style]
    out = apply("duration", raw, CTX)
    assert out.ok and out.value == f"{hours:02d}:{rest:02d}", raw
