"""Dates, practice-local times → UTC, and durations, in the forms Pipedrive's API takes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import date as Day
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flitstack.source.values import is_null, parse_date, parse_datetime
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail
from flitstack.transform.units import quantities

EARLIEST_YEAR = 1900  # earlier time stamps in MDC are placeholders (0001-01-01 00:00…)
MAX_DURATION_MINUTES = 24 * 60 - 1  # Pipedrive's activity duration is HH:MM within a day
#: Without ``past_only`` a two-digit year lands in [reference - 80, reference + 20) years.
PIVOT_YEARS_BACK = 80
#: A ``past_only`` date (a date of birth) further back than this is a typo, not a person.
MAX_PAST_YEARS = 120

#: A US date with a two-digit year at the start of the text (a time may follow).
_TWO_DIGIT_YEAR = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{2})(?=$|[ T])", re.ASCII)
_TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on"})


def zone(name: str | tzinfo | None) -> tzinfo:
    """The practice's time zone; an unknown name falls back to UTC (the audit reports it)."""
    if isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _local_problem(wall: datetime, tz: tzinfo) -> str | None:
    """Whether a naive wall time is skipped or repeated by a DST change in ``tz``."""
    early, late = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    if early.utcoffset() == late.utcoffset():
        return None
    round_trip = early.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return "dst_gap" if round_trip != wall else "dst_ambiguous"


def to_utc(dt_text: str | None, tz: str | tzinfo | None) -> datetime | None:
    """Practice-local wall time (or text with its own offset) → aware UTC datetime.

    ``None`` for nulls, sentinels and text that is not a date/time. A wall time inside a DST gap
    is read with the offset before the change, an ambiguous one as its first occurrence.
    """
    try:
        parsed = parse_datetime(dt_text)
        if parsed.problem or parsed.value is None:
            return None
        dt: datetime = parsed.value
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=zone(tz))
        return dt.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. 0001-01-01 00:00 east of UTC
        return None


def option_on(value: Any) -> bool:
    """A yes/no transform option: ``True`` or a workbook spelling such as ``"true"``/``"yes"``."""
    if isinstance(value, str):
        return value.strip().casefold() in _TRUE_WORDS
    return value is True or (isinstance(value, int) and value == 1)


def reference_day(ctx: TransformContext) -> Day:
    """The export date two-digit years are read against; today in the practice's zone if unset."""
    ref = ctx.reference_date
    if isinstance(ref, datetime):
        return ref.date()
    if ref is not None:
        return ref
    return datetime.now(zone(ctx.options.get("timezone") or ctx.settings.timezone)).date()


def full_year(yy: int, month: int, day: int, ref: Day, *, past_only: bool = False) -> int:
    """The four-digit year of a two-digit ``yy`` read on ``ref``.

    ``past_only``: the latest year that puts month/day at or before ``ref`` (a birth date).
    Otherwise the year in [ref - 80, ref + 20) years, so old visits and near-future
    appointments both land right.
    """
    if past_only:
        year = ref.year - (ref.year - yy) % 100
        if (year, month, day) > (ref.year, ref.month, ref.day):
            year -= 100
        return year
    low = ref.year - PIVOT_YEARS_BACK
    return low + (yy - low) % 100


def expand_two_digit_year(text: str, ref: Day, *, past_only: bool = False) -> str:
    """``5/6/59 …`` → ``5/6/1959 …`` with the century ``full_year`` picks; other text unchanged."""
    stripped = text.strip()
    m = _TWO_DIGIT_YEAR.match(stripped)
    if m is None:
        return text
    year = full_year(int(m[3]), int(m[1]), int(m[2]), ref, past_only=past_only)
    if not 1 <= year <= 9999:
        return text
    return f"{m[1]}/{m[2]}/{year:04d}{stripped[m.end() :]}"


def past_only_problem(day: Day, ref: Day) -> str | None:
    """Why a date that can never be after the export date (a date of birth) is impossible."""
    if day > ref:
        return "date of birth after the export date"
    if (day.year + MAX_PAST_YEARS, day.month, day.day) < (ref.year, ref.month, ref.day):
        return f"date of birth more than {MAX_PAST_YEARS} years before the export date"
    return None


def _read_text(raw: str, ctx: TransformContext) -> tuple[str, Day | None]:
    """The text with any two-digit year made four digits, and the reference day for past_only.

    The reference day is only worked out when it is needed (a two-digit year or ``past_only``).
    """
    past_only = option_on(ctx.options.get("past_only"))
    if not past_only and _TWO_DIGIT_YEAR.match(raw.strip()) is None:
        return raw, None
    ref = reference_day(ctx)
    return expand_two_digit_year(raw, ref, past_only=past_only), ref if past_only else None


def date(raw: str | None, ctx: TransformContext) -> Outcome:
    """→ ``YYYY-MM-DD``; MDC's "no date" sentinels become empty.

    Two-digit years are read against ``ctx.reference_date`` (see ``full_year``); with the option
    ``past_only`` a date after the export date, or over 120 years before it, fails.
    """
    if is_null(raw):
        return EMPTY
    assert raw is not None
    text, past_ref = _read_text(raw, ctx)
    parsed = parse_date(text)
    if parsed.problem:
        return fail("not a date in any form MDC writes (2024-03-05, 03/05/2024, 3/5/24)")
    if parsed.value is None:
        return EMPTY
    if past_ref is not None and (problem := past_only_problem(parsed.value, past_ref)):
        return fail(problem)
    return Outcome(parsed.value.isoformat())


def _utc_outcome(raw: str | None, ctx: TransformContext) -> tuple[datetime | None, Outcome]:
    if is_null(raw):
        return None, EMPTY
    assert raw is not None
    raw, past_ref = _read_text(raw, ctx)
    parsed = parse_datetime(raw)
    if parsed.problem:
        return None, fail("not a date/time in any form MDC writes (2024-03-05 14:30, …)")
    if parsed.value is None:
        return None, EMPTY
    if past_ref is not None and (problem := past_only_problem(parsed.value.date(), past_ref)):
        return None, fail(problem)
    tz = zone(ctx.options.get("timezone") or ctx.settings.timezone)
    when = to_utc(raw, tz)
    if when is None:
        return None, fail("date/time out of range once moved to UTC")
    wall: datetime = parsed.value
    if when.year < EARLIEST_YEAR or wall.year < EARLIEST_YEAR:
        return None, fail(f"date/time before {EARLIEST_YEAR}: a placeholder, not a real time")
    problem = _local_problem(wall, tz) if wall.tzinfo is None else None
    if problem == "dst_gap":
        return when, Outcome(None, True, (problem,), "local time skipped by a DST change")
    if problem == "dst_ambiguous":
        return when, Outcome(None, True, (problem,), "local time repeated by a DST change")
    return when, EMPTY


def pipedrive_datetime(when: datetime) -> str:
    """An aware datetime → UTC ``YYYY-MM-DD HH:MM:SS``, the form of Pipedrive's add_time."""
    utc = when.astimezone(UTC)
    return f"{utc.date().isoformat()} {utc.time().isoformat('seconds')}"


def datetime_utc(raw: str | None, ctx: TransformContext) -> Outcome:
    """Practice-local (or offset-carrying) time → UTC ``YYYY-MM-DD HH:MM:SS`` (add_time form)."""
    when, base = _utc_outcome(raw, ctx)
    if when is None:
        return base
    return Outcome(pipedrive_datetime(when), True, base.flags, base.reason)


def due_datetime(raw: str | None, ctx: TransformContext) -> Outcome:
    """→ ``{"due_date": "YYYY-MM-DD", "due_time": "HH:MM"}`` in UTC, as activities take them."""
    when, base = _utc_outcome(raw, ctx)
    if when is None:
        return base
    value = {"due_date": when.date().isoformat(), "due_time": when.time().isoformat("minutes")}
    return Outcome(value, True, base.flags, base.reason)


_HOURS = {"h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h"}
_MINUTES = {"m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m"}
_DURATION_UNITS = {**_HOURS, **_MINUTES}
_CLOCK = re.compile(r"^([0-9]{1,2}):([0-5][0-9])(?::(00))?$", re.ASCII)
_DURATION_FORMS = "minutes (90, 90 min, 1h30, 1:30, 1.5h, 2 hours)"


def duration_minutes(text: str) -> Decimal | None:
    """``90``, ``90 min``, ``1h30``, ``1h 30m``, ``1:30``, ``1.5h``, ``2 hours`` → minutes.

    ``None`` when the text is none of these. A number without a unit is minutes, except right
    after hours (``1h30``); minutes after hours must be under 60. The result may be fractional
    (``1.5`` minutes) or out of range: the caller decides.
    """
    text = text.strip().removeprefix("+")
    clock = _CLOCK.match(text)
    if clock:
        return Decimal(int(clock[1]) * 60 + int(clock[2]))
    parts = quantities(text, _DURATION_UNITS)
    if parts is None:
        return None
    if len(parts) == 1:
        amount, unit = parts[0]
        return amount * 60 if unit == "h" else amount
    if len(parts) != 2:
        return None
    (hours, first), (minutes, second) = parts
    if first != "h" or second == "h" or minutes >= 60:
        return None
    return hours * 60 + minutes


def duration(raw: str | None, ctx: TransformContext) -> Outcome:
    """Minutes in any usual spelling (``90``, ``1h30``, ``1:30``…) → ``HH:MM`` (activities)."""
    if is_null(raw):
        return EMPTY
    assert raw is not None
    if len(raw.strip()) > 40:
        return fail(f"not a duration in {_DURATION_FORMS}")
    minutes = duration_minutes(raw)
    if minutes is None:
        return fail(f"not a duration in {_DURATION_FORMS}")
    if minutes != minutes.to_integral_value():
        return fail("not a whole number of minutes")
    if not 0 <= minutes <= MAX_DURATION_MINUTES:
        return fail(f"duration must be 0–{MAX_DURATION_MINUTES} minutes")
    span = timedelta(minutes=int(minutes))
    hours, mins = divmod(int(span.total_seconds()) // 60, 60)
    return Outcome(f"{hours:02d}:{mins:02d}")
