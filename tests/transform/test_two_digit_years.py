"""Two-digit years read against the export date, and past-only dates (dates of birth)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from flitstack.settings import Settings
from flitstack.transform import TransformContext, apply
from flitstack.transform.dates import full_year, reference_day, zone

EXPORT = date(2026, 11, 25)


def ctx(ref: date = EXPORT, **options: object) -> TransformContext:
    return TransformContext(options=dict(options), reference_date=ref)


def two_digit(day: date, *, padded: bool) -> str:
    if padded:
        return f"{day.month:02d}/{day.day:02d}/{day.year % 100:02d}"
    return f"{day.month}/{day.day}/{day.year % 100:02d}"


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("5/6/59", "1959-05-06"),
        ("05/06/59", "1959-05-06"),
        ("3/5/24", "2024-03-05"),
        ("3/5/85", "1985-03-05"),
        ("1/1/00", "2000-01-01"),
        ("3/5/45", "2045-03-05"),  # up to 20 years ahead: a booked appointment, a recall
        ("3/5/46", "1946-03-05"),  # 80 years back
        ("12/31/69", "1969-12-31"),
    ],
)
def test_two_digit_years_pivot_around_the_export_date(raw: str, want: str) -> None:
    out = apply("date", raw, ctx())
    assert out.ok and out.value == want


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("5/6/59", "1959-05-06"),
        ("05/06/59", "1959-05-06"),
        ("3/5/24", "2024-03-05"),
        ("11/25/26", "2026-11-25"),  # born on the export day
        ("11/26/26", "1926-11-26"),  # a day later would be the future: a century back
        ("3/5/45", "1945-03-05"),  # never in the future, unlike the plain pivot
        ("2/29/00", "2000-02-29"),
        ("5/6/59 10:15 AM", "1959-05-06"),
    ],
)
def test_past_only_picks_the_century_at_or_before_the_export_date(raw: str, want: str) -> None:
    out = apply("date", raw, ctx(past_only=True))
    assert out.ok and out.value == want


def test_the_reference_date_moves_the_pivot() -> None:
    assert apply("date", "3/5/30", ctx(date(2026, 1, 1))).value == "2030-03-05"
    assert apply("date", "3/5/30", ctx(date(1995, 1, 1))).value == "1930-03-05"
    assert apply("date", "3/5/30", ctx(date(2026, 1, 1), past_only=True)).value == "1930-03-05"
    assert apply("date", "3/5/24", ctx(date(2024, 3, 4), past_only=True)).value == "1924-03-05"
    assert apply("date", "3/5/24", ctx(date(2024, 3, 5), past_only=True)).value == "2024-03-05"


@pytest.mark.parametrize("flag", [True, "true", "TRUE", "yes", "y", "1", 1])
def test_past_only_workbook_spellings(flag: object) -> None:
    assert apply("date", "3/5/45", ctx(past_only=flag)).value == "1945-03-05"


@pytest.mark.parametrize("flag", [False, "false", "no", "", None, 0])
def test_past_only_off_spellings(flag: object) -> None:
    assert apply("date", "3/5/45", ctx(past_only=flag)).value == "2045-03-05"


@pytest.mark.parametrize("raw", ["2027-01-01", "11/26/2026", "12/31/2099", "2026-11-26 00:00"])
def test_a_birth_date_after_the_export_date_fails(raw: str) -> None:
    out = apply("date", raw, ctx(past_only=True))
    assert not out.ok and out.value is None
    assert out.reason == "date of birth after the export date"


@pytest.mark.parametrize("raw", ["1906-11-24", "05/06/1859", "1901-01-01"])
def test_a_birth_date_over_120_years_back_fails(raw: str) -> None:
    out = apply("date", raw, ctx(past_only=True))
    assert not out.ok and out.reason
    assert "more than 120 years before the export date" in out.reason


def test_birth_date_edges_and_sentinels() -> None:
    assert apply("date", "1906-11-25", ctx(past_only=True)).value == "1906-11-25"  # exactly 120
    assert apply("date", "2026-11-25", ctx(past_only=True)).value == "2026-11-25"
    # MDC's "no date" placeholders stay empty, not "too old"
    for sentinel in ("1900-01-01", "0000-00-00", "01/01/0001", "NULL"):
        assert apply("date", sentinel, ctx(past_only=True)).value is None
        assert apply("date", sentinel, ctx(past_only=True)).ok
    # without past_only nothing is judged against the export date
    assert apply("date", "2099-01-01", ctx()).value == "2099-01-01"
    assert apply("date", "1901-01-01", ctx()).value == "1901-01-01"


def test_bad_two_digit_dates_still_fail() -> None:
    for raw in ("13/45/24", "2/30/24", "2/29/01", "5/6/5", "5/6/590"):
        out = apply("date", raw, ctx(past_only=True))
        assert not out.ok and out.reason, raw


def test_datetimes_use_the_same_reading() -> None:
    out = apply("datetime", "3/5/45 9:00 AM", ctx(date(2026, 1, 1)))
    assert out.value == "2045-03-05 09:00:00"  # UTC by default
    chicago = TransformContext(
        settings=Settings(timezone="America/Chicago"), options={}, reference_date=EXPORT
    )
    assert apply("due_datetime", "3/5/24 2:30 PM", chicago).value == {
        "due_date": "2024-03-05",
        "due_time": "20:30",
    }
    assert apply("datetime", "3/5/45 9:00", ctx(past_only=True)).value == "1945-03-05 09:00:00"
    future = apply("datetime", "2027-03-05 09:00", ctx(past_only=True))
    assert not future.ok and future.reason == "date of birth after the export date"


def test_reference_date_defaults_to_today_in_the_practice_zone() -> None:
    settings = Settings(timezone="Pacific/Kiritimati")  # UTC+14: "today" differs from UTC's
    before = datetime.now(zone("Pacific/Kiritimati")).date()
    got = reference_day(TransformContext(settings=settings))
    after = datetime.now(zone("Pacific/Kiritimati")).date()
    assert got in (before, after)
    assert reference_day(ctx(datetime(2020, 5, 6, 23, 0, tzinfo=UTC))) == date(2020, 5, 6)
    tomorrow = (after + timedelta(days=1)).isoformat()
    out = apply("date", tomorrow, TransformContext(settings=settings, options={"past_only": True}))
    assert not out.ok


refs = st.dates(min_value=date(1950, 1, 1), max_value=date(2150, 12, 31))


@given(ref=refs, day=st.dates(min_value=date(1801, 1, 1), max_value=date(2199, 12, 31)))
def test_past_only_never_yields_a_date_after_the_export_date(ref: date, day: date) -> None:
    for padded in (True, False):
        out = apply("date", two_digit(day, padded=padded), ctx(ref, past_only=True))
        if out.ok:
            assert out.value is not None
            got = date.fromisoformat(out.value)
            assert got <= ref
            assert ref - got < timedelta(days=366 * 100)  # the latest century that fits
            assert (got.year % 100, got.month, got.day) == (day.year % 100, day.month, day.day)
        else:
            assert out.reason  # only 29 Feb of a century year that is not a leap year
            assert (day.month, day.day) == (2, 29)


@given(ref=refs, back=st.integers(0, 36_400))
def test_past_only_round_trips_the_last_century(ref: date, back: int) -> None:
    day = ref - timedelta(days=back)  # within 100 years before the export date
    assume((day.year + 100, day.month, day.day) > (ref.year, ref.month, ref.day))
    for padded in (True, False):
        out = apply("date", two_digit(day, padded=padded), ctx(ref, past_only=True))
        assert out.ok and out.value == day.isoformat()


@given(ref=refs, day=st.dates(min_value=date(1870, 1, 1), max_value=date(2170, 12, 31)))
def test_the_pivot_window_is_80_years_back_20_ahead(ref: date, day: date) -> None:
    assume(ref.year - 80 <= day.year < ref.year + 20)
    assert apply("date", two_digit(day, padded=False), ctx(ref)).value == day.isoformat()


@given(ref=refs, yy=st.integers(0, 99), past_only=st.booleans())
def test_full_year_keeps_the_two_digits(ref: date, yy: int, past_only: bool) -> None:
    year = full_year(yy, 6, 15, ref, past_only=past_only)
    assert year % 100 == yy
    if past_only:
        assert ref.year - 100 <= year <= ref.year
    else:
        assert ref.year - 80 <= year < ref.year + 20


@given(day=st.dates(min_value=date(1901, 1, 1), max_value=date(2099, 12, 31)))
def test_four_digit_years_are_untouched_by_the_reference(day: date) -> None:
    raw = f"{day.month}/{day.day}/{day.year}"
    assert apply("date", raw, ctx(date(1960, 1, 1))).value == day.isoformat()
