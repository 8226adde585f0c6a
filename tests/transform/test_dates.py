"""Dates, practice-local times → UTC across DST, due dates and durations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flitstack.settings import Settings
from flitstack.transform import TransformContext, apply, to_utc

CHICAGO = ZoneInfo("America/Chicago")


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("2024-03-05", "2024-03-05"),
        ("03/05/2024", "2024-03-05"),
        ("3/5/24", "2024-03-05"),
        ("3/5/85", "1985-03-05"),
        ("2024-03-05 14:30", "2024-03-05"),
        ("03/05/2024 2:30 PM", "2024-03-05"),
        ("0000-00-00", None),
        ("1900-01-01", None),
        ("01/01/0001", None),
        ("NULL", None),
    ],
)
def test_dates_in_every_export_form(raw: str, want: str | None, ctx: TransformContext) -> None:
    out = apply("date", raw, ctx)
    assert out.ok and out.value == want


@pytest.mark.parametrize("raw", ["13/45/2024", "2024-02-30", "yesterday", "5 March"])
def test_bad_dates_fail_with_reason(raw: str, ctx: TransformContext) -> None:
    out = apply("date", raw, ctx)
    assert not out.ok and out.reason


@given(st.dates(min_value=date(1901, 1, 1), max_value=date(2099, 12, 31)))
def test_dates_round_trip_through_us_form(day: date) -> None:
    raw = f"{day.month:02d}/{day.day:02d}/{day.year}"
    assert apply("date", raw, TransformContext()).value == day.isoformat()


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("2024-01-15 09:00", "2024-01-15 15:00:00"),  # CST, UTC-6
        ("07/15/2024 9:00 AM", "2024-07-15 14:00:00"),  # CDT, UTC-5
        ("2024-03-09 12:00", "2024-03-09 18:00:00"),  # day before spring-forward
        ("2024-03-11 12:00", "2024-03-11 17:00:00"),  # day after
        ("2024-11-02 12:00", "2024-11-02 17:00:00"),  # day before fall-back
        ("2024-11-04 12:00", "2024-11-04 18:00:00"),  # day after
        ("12/31/2024 11:30 PM", "2025-01-01 05:30:00"),  # crosses the date line in UTC
        ("2024-07-15T09:00:00+00:00", "2024-07-15 09:00:00"),  # own offset wins
        ("2024-07-15T09:00:00Z", "2024-07-15 09:00:00"),
        ("2024-07-15T09:00:00-07:00", "2024-07-15 16:00:00"),
    ],
)
def test_datetimes_move_to_utc_across_dst(raw: str, want: str, ctx: TransformContext) -> None:
    out = apply("datetime", raw, ctx)
    assert out.ok and out.value == want and out.flags == ()


def test_dst_gap_and_repeat_are_flagged(ctx: TransformContext) -> None:
    gap = apply("datetime", "2024-03-10 02:30", ctx)  # does not exist in Chicago
    assert gap.ok and gap.value == "2024-03-10 08:30:00" and gap.flags == ("dst_gap",)
    repeat = apply("datetime", "2024-11-03 01:30", ctx)  # happens twice
    assert repeat.ok and repeat.value == "2024-11-03 06:30:00"
    assert repeat.flags == ("dst_ambiguous",)


def test_placeholder_and_bad_datetimes(ctx: TransformContext) -> None:
    assert apply("datetime", "0000-00-00", ctx).value is None
    assert apply("datetime", "1900-01-01 00:00", ctx).value is None
    old = apply("datetime", "0001-01-01 00:00", ctx)
    assert not old.ok and old.reason
    bad = apply("datetime", "03/05/2024 25:99", ctx)
    assert not bad.ok and bad.reason
    assert not apply("datetime", "9999-12-31 23:59", ctx).ok  # overflows once in UTC


def test_due_datetime_splits_date_and_time_in_utc(ctx: TransformContext) -> None:
    out = apply("due_datetime", "3/5/24 2:30 PM", ctx)
    assert out.value == {"due_date": "2024-03-05", "due_time": "20:30"}
    late = apply("due_datetime", "2024-12-31 23:30", ctx)
    assert late.value == {"due_date": "2025-01-01", "due_time": "05:30"}


@given(st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2060, 1, 1)))
def test_to_utc_agrees_with_zoneinfo(wall: datetime) -> None:
    wall = wall.replace(second=0, microsecond=0, fold=0)  # the text carries no fold
    got = to_utc(wall.strftime("%Y-%m-%d %H:%M"), "America/Chicago")
    assert got == wall.replace(tzinfo=CHICAGO).astimezone(UTC)
    assert got is not None and got.utcoffset() == timedelta(0)


def test_to_utc_accepts_zone_objects_and_unknown_names() -> None:
    assert to_utc("2024-01-15 09:00", CHICAGO) == datetime(2024, 1, 15, 15, tzinfo=UTC)
    assert to_utc("2024-01-15 09:00", "No/Such_Zone") == datetime(2024, 1, 15, 9, tzinfo=UTC)
    assert to_utc("garbage", CHICAGO) is None
    assert to_utc(None, CHICAGO) is None


def test_settings_timezone_is_used() -> None:
    berlin = TransformContext(settings=Settings(timezone="Europe/Berlin"))
    assert apply("datetime", "2024-07-15 09:00", berlin).value == "2024-07-15 07:00:00"


@pytest.mark.parametrize(
    ("raw", "want"), [("30", "00:30"), ("90", "01:30"), ("60.0", "01:00"), ("0", "00:00")]
)
def test_durations(raw: str, want: str) -> None:
    assert apply("duration", raw, TransformContext()).value == want


@pytest.mark.parametrize("raw", ["-5", "1440", "ninety", "1.5", "1e9"])
def test_bad_durations(raw: str) -> None:
    assert not apply("duration", raw, TransformContext()).ok


@given(st.integers(0, 1439))
def test_duration_round_trips(minutes: int) -> None:
    hours, mins = apply("duration", str(minutes), TransformContext()).value.split(":")
    assert int(hours) * 60 + int(mins) == minutes
