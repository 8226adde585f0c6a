"""Dates, practice-local times → UTC, and durations, in the forms Pipedrive's API takes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flitstack.source.values import is_null, parse_date, parse_datetime, parse_int
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail

EARLIEST_YEAR = 1900  # earlier time stamps in MDC are placeholders (0001-01-01 00:00…)
MAX_DURATION_MINUTES = 24 * 60 - 1  # Pipedrive's activity duration is HH:MM within a day


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


def date(raw: str | None, ctx: TransformContext) -> Outcome:
    """→ ``YYYY-MM-DD``; MDC's "no date" sentinels become empty."""
    if is_null(raw):
        return EMPTY
    parsed = parse_date(raw)
    if parsed.problem:
        return fail("not a date in any form MDC writes (2024-03-05, 03/05/2024, 3/5/24)")
    return Outcome(parsed.value.isoformat() if parsed.value else None)


def _utc_outcome(raw: str | None, ctx: TransformContext) -> tuple[datetime | None, Outcome]:
    if is_null(raw):
        return None, EMPTY
    parsed = parse_datetime(raw)
    if parsed.problem:
        return None, fail("not a date/time in any form MDC writes (2024-03-05 14:30, …)")
    if parsed.value is None:
        return None, EMPTY
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


def duration(raw: str | None, ctx: TransformContext) -> Outcome:
    """Whole minutes → ``HH:MM``, the activity duration form."""
    if is_null(raw):
        return EMPTY
    assert raw is not None
    if len(raw.strip()) > 12:
        return fail("not a number of minutes")
    minutes = parse_int(raw)
    if minutes.problem or minutes.value is None:
        return fail("not a whole number of minutes")
    if not 0 <= minutes.value <= MAX_DURATION_MINUTES:
        return fail(f"duration must be 0–{MAX_DURATION_MINUTES} minutes")
    span = timedelta(minutes=minutes.value)
    hours, mins = divmod(int(span.total_seconds()) // 60, 60)
    return Outcome(f"{hours:02d}:{mins:02d}")
