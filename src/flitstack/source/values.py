"""Primitive value parsers shared by the reader, the transforms and the audit.

Each parser takes the text of one CSV cell and returns ``ParsedValue(value, problem)``: the typed
value (``None`` for a null) and, when the text could not be read, a short problem kind. None of
them raises on any input, so one bad cell never stops a migration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NamedTuple

from flitstack.source.schema import ENUM_ALIASES, NULL_DATE_SENTINELS, NULL_SPELLINGS


class ParsedValue(NamedTuple):
    value: Any
    problem: str | None = None


NULL = ParsedValue(None)
#: builds a ParsedValue without the named tuple's Python-level ``__new__`` (hot paths)
_new = tuple.__new__


#: casefold never shortens text, so anything longer than this cannot be a null spelling
_NULL_MAX_LEN = max(len(s) for s in NULL_SPELLINGS)


def is_null(text: str | None) -> bool:
    """True for empty cells and the null spellings MDC exports use (NULL, N/A, none…)."""
    if text is None:
        return True
    stripped = text.strip()
    return not stripped or (
        len(stripped) <= _NULL_MAX_LEN and stripped.casefold() in NULL_SPELLINGS
    )


def strip_or_none(text: str) -> str | None:
    """The stripped text, or None when it is a null spelling (the hot path of text columns)."""
    stripped = text.strip()
    if not stripped or (len(stripped) <= _NULL_MAX_LEN and stripped.casefold() in NULL_SPELLINGS):
        return None
    return stripped


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")


def _us_date(text: str) -> date | None:
    m = _US_DATE.match(text)
    if not m:
        return None
    month, day, year = int(m[1]), int(m[2]), int(m[3])
    if len(m[3]) == 2:
        # Two-digit years: a 70-year pivot keeps births in the last century and visits recent.
        year += 1900 if year >= 70 else 2000
    return date(year, month, day)


def _split_date_time(text: str) -> tuple[str, str | None]:
    for sep in ("T", " "):
        if sep in text:
            head, _, tail = text.partition(sep)
            return head, tail.strip() or None
    return text, None


def _time_is_valid(text: str) -> bool:
    """True for a time of day in any form a date may carry (``14:30``, ``2:30 PM``, ISO with
    fractions or an offset); ``25:61`` is not one."""
    if _parse_time(text) is not None:
        return True
    try:
        time.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return False
    return True


def parse_date(text: str | None) -> ParsedValue:
    """Read ``2024-03-05``, ``03/05/2024`` or ``3/5/24``; sentinels such as 1900-01-01 are null.

    A time after the date is ignored when it is a real time of day; an impossible one
    (``9999-12-31 25:61``) makes the whole value a ``bad_date``, never half a date.
    """
    if is_null(text):
        return NULL
    assert text is not None
    return date_from(text.strip())


@lru_cache(maxsize=8192)
def date_from(stripped: str) -> ParsedValue:
    """:func:`parse_date` of stripped text that is not a null spelling (the reader's entry: it
    has stripped and nulled the text already). Cached: the same days recur in every file and
    column of an export (a visit's date, its ledger entries, its recall)."""
    if stripped in NULL_DATE_SENTINELS:
        return NULL
    head, tail = _split_date_time(stripped)
    if head in NULL_DATE_SENTINELS:
        return NULL
    if tail is not None and not _time_is_valid(tail):
        return ParsedValue(None, "bad_date")
    try:
        if len(head) == 10 and head[4] == "-":
            return _new(ParsedValue, (date.fromisoformat(head), None))
        parsed = _us_date(head)
        if parsed is not None:
            return _new(ParsedValue, (parsed, None))
    except ValueError:
        pass
    return ParsedValue(None, "bad_date")


def _parse_time(text: str) -> tuple[int, int, int] | None:
    m = _TIME.match(text.strip())
    if not m:
        return None
    hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
    meridiem = (m[4] or "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def parse_datetime(text: str | None) -> ParsedValue:
    """Read a date with an optional time (``2024-03-05 14:30``, ``03/05/2024 2:30 PM``, ISO).

    The result is naive (practice-local wall time) unless the text carries a UTC offset.
    """
    if is_null(text):
        return NULL
    assert text is not None
    return datetime_from(text.strip())


def datetime_from(stripped: str) -> ParsedValue:
    """:func:`parse_datetime` of stripped text that is not a null spelling (the reader's entry)."""
    if stripped in NULL_DATE_SENTINELS:
        return NULL
    if len(stripped) >= 10 and stripped[4] == "-" and stripped[:10] not in NULL_DATE_SENTINELS:
        candidate = stripped.replace("Z", "+00:00") if stripped.endswith("Z") else stripped
        try:
            return _new(ParsedValue, (datetime.fromisoformat(candidate), None))
        except ValueError:
            pass
    head, tail = _split_date_time(stripped)
    day = _day(head)
    if day.problem:
        return _BAD_DATETIME
    d = day.value
    if d is None:
        return NULL
    if tail is None:
        return _new(ParsedValue, (datetime(d.year, d.month, d.day), None))
    clock = _clock(tail)
    if clock is None:
        return _BAD_DATETIME
    return _new(ParsedValue, (datetime.combine(d, clock), None))


@lru_cache(maxsize=4096)
def _day(head: str) -> ParsedValue:
    """:func:`parse_date` of a date/time's date part (cached: days repeat)."""
    return parse_date(head)


@lru_cache(maxsize=2048)
def _clock(tail: str) -> time | None:
    """The time of day of a date/time's time part, None when it is not one (cached)."""
    hms = _parse_time(tail)
    return None if hms is None else time(*hms)


_BAD_DATETIME = ParsedValue(None, "bad_datetime")
#: what :func:`date_from` and :func:`datetime_from` read with the ``fromisoformat`` of their
#: type alone: an ISO date (and time to the minute or second), no sentinel date
_SENTINELS = "|".join(re.escape(s) for s in sorted(NULL_DATE_SENTINELS))
ISO_DATE = re.compile(rf"(?!{_SENTINELS})[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}")
ISO_DATETIME = re.compile(
    rf"(?!{_SENTINELS})[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[ T][0-9]{{2}}:[0-9]{{2}}(?::[0-9]{{2}})?"
)


def iso_date_candidates(texts: Iterable[str]) -> list[str]:
    """The texts :func:`date_from` reads with ``date.fromisoformat`` alone, if that reads them:
    ten characters, a '-' fifth, no sentinel. A cheaper test than :data:`ISO_DATE` (whose
    texts are a part of these), for reading new texts in bulk."""
    return [t for t in texts if len(t) == 10 and t[4] == "-" and t not in NULL_DATE_SENTINELS]


def iso_datetime_candidates(texts: Iterable[str]) -> list[str]:
    """The texts :func:`datetime_from` reads with ``datetime.fromisoformat`` alone, if that
    reads them: a '-' fifth, no sentinel date, no ``Z`` (which it reads as +00:00)."""
    sentinels = NULL_DATE_SENTINELS
    return [
        t
        for t in texts
        if len(t) >= 10 and t[4] == "-" and t[:10] not in sentinels and t[-1] != "Z"
    ]


def parse_money(text: str | None) -> ParsedValue:
    """Read ``1234.5``, ``$1,234.50``, ``-45`` and accounting negatives ``(45.00)``."""
    if is_null(text):
        return NULL
    assert text is not None
    return money_from(text.strip())


def money_from(s: str) -> ParsedValue:
    """:func:`parse_money` of stripped text that is not a null spelling (the reader's entry)."""
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    if s.startswith("-"):
        negative, s = not negative, s[1:].strip()
    s = s.lstrip("$").strip().replace(",", "")
    if s.startswith("-"):
        negative, s = not negative, s[1:]
    if not s or not all(c.isdigit() or c == "." for c in s) or s.count(".") > 1 or s == ".":
        return ParsedValue(None, "bad_money")
    try:
        amount = Decimal(s)
    except InvalidOperation:
        return ParsedValue(None, "bad_money")
    return _new(ParsedValue, (-amount if negative else amount, None))


def parse_int(text: str | None) -> ParsedValue:
    """Read a whole number; ``12.0`` is accepted, ``12.5`` is not."""
    if is_null(text):
        return NULL
    assert text is not None
    return int_from(text.strip())


def int_from(stripped: str) -> ParsedValue:
    """:func:`parse_int` of stripped text that is not a null spelling (the reader's entry)."""
    s = stripped.replace(",", "")
    if s.isascii() and (s.isdigit() or (s[:1] in "+-" and s[1:].isdigit())):
        return _new(ParsedValue, (int(s), None))
    try:
        as_decimal = Decimal(s)
        if as_decimal.is_finite() and as_decimal == as_decimal.to_integral_value():
            return ParsedValue(int(as_decimal))
    except (InvalidOperation, ValueError):
        pass
    return ParsedValue(None, "bad_int")


_TRUE = frozenset({"y", "yes", "true", "t", "1"})
_FALSE = frozenset({"n", "no", "false", "f", "0"})


def parse_yes_no(text: str | None) -> ParsedValue:
    """Read Y/N flags (also Yes/No, True/False, 1/0) into booleans."""
    if is_null(text):
        return NULL
    assert text is not None
    return yes_no_from(text.strip())


def yes_no_from(stripped: str) -> ParsedValue:
    """:func:`parse_yes_no` of stripped text that is not a null spelling (the reader's entry)."""
    key = stripped.casefold()
    if key in _TRUE:
        return ParsedValue(True)
    if key in _FALSE:
        return ParsedValue(False)
    return ParsedValue(None, "bad_yes_no")


def _enum_key(text: str) -> str:
    return "".join(text.split()).casefold()


def parse_enum(text: str | None, values: tuple[str, ...] | list[str]) -> ParsedValue:
    """Match an enum value in any case, with stray spaces or a known abbreviation.

    An unknown value is kept as its stripped text with the problem ``bad_enum``, so the map's value
    tables can still place it and nothing is lost.
    """
    if is_null(text):
        return NULL
    assert text is not None
    return enum_from(text, _enum_table(tuple(values)))


def enum_from(text: str, table: dict[str, str]) -> ParsedValue:
    """:func:`parse_enum` of text that is not a null spelling, with the enum's
    :func:`enum_table` (the reader's entry: the table is looked up once per column)."""
    match = table.get(_enum_key(text))
    if match is not None:
        return ParsedValue(match)
    return ParsedValue(" ".join(text.split()), "bad_enum")


def enum_table(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Spelling key → canonical value for one enum (see :func:`parse_enum`)."""
    return _enum_table(tuple(values))


@lru_cache(maxsize=256)
def _enum_table(values: tuple[str, ...]) -> dict[str, str]:
    """Spelling key → canonical value for one enum: its values first, then known aliases.

    Built once per set of values, so matching a cell is one dictionary lookup.
    """
    table = {alias: value for alias, value in ENUM_ALIASES.items() if value in values}
    table.update((_enum_key(value), value) for value in reversed(values))  # first value wins
    return table


def clean_text(text: str | None) -> ParsedValue:
    """Strip surrounding whitespace; null spellings become None."""
    if text is None:
        return NULL
    stripped = strip_or_none(text)
    return NULL if stripped is None else ParsedValue(stripped)
