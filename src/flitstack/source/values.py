"""Primitive value parsers shared by the reader, the transforms and the audit.

Each parser takes the text of one CSV cell and returns ``ParsedValue(value, problem)``: the typed
value (``None`` for a null) and, when the text could not be read, a short problem kind. None of
them raises on any input, so one bad cell never stops a migration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import compress, islice, repeat
from operator import eq, itemgetter, not_
from typing import Any, NamedTuple, cast

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


def slash_order(text: str) -> str | None:
    """Which order a slash date can only be read in: ``day-first`` for 25/03/2024 (no month
    25), ``month-first`` for 03/25/2024; None when either reads (03/05/2024) or neither does."""
    m = _US_DATE.match(text.split(" ", 1)[0].split("T", 1)[0])
    if not m:
        return None
    first, second = int(m[1]), int(m[2])
    if 12 < first <= 31 and 1 <= second <= 12:
        return "day-first"
    if 12 < second <= 31 and 1 <= first <= 12:
        return "month-first"
    return None


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


#: month names as a spreadsheet writes them (``01-Jan-2023``, ``Jan 1, 2023``, ``1 March 2024``)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
         ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
         ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")),
        start=1,
    )
    for name in names
}  # fmt: skip
_DAY_MONTH_YEAR = re.compile(
    r"^(\d{1,2})[-\s./]+([A-Za-z]{3,9})\.?[-\s./,]+(\d{4}|\d{2})(?:[\sT]+(.+))?$"
)
_MONTH_DAY_YEAR = re.compile(
    r"^([A-Za-z]{3,9})\.?[-\s]+(\d{1,2})(?:st|nd|rd|th)?,?[-\s]+(\d{4})(?:[\s,T]+(.+))?$"
)


def _named_month(text: str) -> tuple[date, str | None] | None:
    """A date whose month is written as a name, in either order (no day/month ambiguity),
    and what follows it (a time); None when the text is no such date."""
    found = _DAY_MONTH_YEAR.match(text)
    if found is not None:
        day, name, year, tail = found.groups()
    else:
        found = _MONTH_DAY_YEAR.match(text)
        if found is None:
            return None
        name, day, year, tail = found.groups()
    month = _MONTHS.get(name.casefold())
    if month is None:
        return None
    number = int(year)
    if len(year) == 2:  # the pivot of two-digit slash dates
        number += 1900 if number >= 70 else 2000
    try:
        return date(number, month, int(day)), tail
    except ValueError:
        return None


@lru_cache(maxsize=2048)
def date_from(stripped: str) -> ParsedValue:
    """:func:`parse_date` of stripped text that is not a null spelling (the reader's entry: it
    has stripped and nulled the text already). Cached: the same days recur in every file and
    column of an export (a visit's date, its ledger entries, its recall)."""
    read = _numeric_date(stripped)
    if read.problem is not None and stripped[:1].isalnum():
        named = _named_month(stripped)
        if named is not None and (named[1] is None or _time_is_valid(named[1])):
            return ParsedValue(named[0], None)
    return read


def _numeric_date(stripped: str) -> ParsedValue:
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
    d = _day(head)
    if d is None:  # a null date, or no date
        if parse_date(head).problem is None:
            return NULL
        named = _named_month(stripped)  # Jan 1, 2023 10:15: the month as a name
        if named is None:
            return _BAD_DATETIME
        d, tail = named
    if tail is None:
        return _new(ParsedValue, (datetime(d.year, d.month, d.day), None))
    clock = _clock(tail)
    if clock is None:
        return _BAD_DATETIME
    return _new(ParsedValue, (datetime.combine(d, clock), None))


class _Days(dict[str, date | None]):
    """The day a date/time's date part stands for, by text (None: a null date, or not a date:
    :func:`parse_date` says which). Days repeat across a file's date/times: room for the days
    of decades written two ways; emptied when full. A day alone, not its reading, is kept."""

    CAP = 16384

    def __missing__(self, head: str) -> date | None:
        if len(self) >= self.CAP:
            self.clear()
        day = self[head] = parse_date(head).value
        return day


_DAYS = _Days()
_day = _DAYS.__getitem__


@lru_cache(maxsize=2048)
def _clock(tail: str) -> time | None:
    """The time of day of a date/time's time part, None when it is not one (cached)."""
    hms = _parse_time(tail)
    return None if hms is None else time(*hms)


_BAD_DATETIME = ParsedValue(None, "bad_datetime")


def forget_parsed() -> None:
    """Empty the caches of dates, days and times read (a few MB once full): called when a
    read is over, so what follows it (the audit's checks in SQLite) does not hold them too."""
    for cached in (date_from, _clock):
        cached.cache_clear()
    _DAYS.clear()


#: the sentinel dates an ISO text may begin with
_ISO_SENTINELS = tuple(s for s in sorted(NULL_DATE_SENTINELS) if s[4:5] == "-")


def _dashed(texts: list[str]) -> list[bool]:
    """Whether each text has a '-' fifth (what the parsers read as ISO first), told in C."""
    if min(map(len, texts), default=5) < 5:
        return [len(t) > 4 and t[4] == "-" for t in texts]
    return list(map(eq, map(itemgetter(4), texts), repeat("-")))


def _iso_read(
    texts: list[str], whole: int | None, convert: Callable[[str], Any]
) -> tuple[list[str], list[Any]]:
    """Texts with a '-' fifth read by ``convert`` (a type's ``fromisoformat``) all at once, in
    C, when every one is a candidate: ``whole`` characters long (or 10 at least when None), not
    a sentinel date, no ``Z`` at the end (the parsers read it as +00:00). Tested on the batch
    joined; each text tested alone only when that test fails. A text ``convert`` fails on is
    left to the parser and the rest read on."""
    if not texts:
        return [], []
    lengths = list(map(len, texts))
    joined = "\n".join(texts) + "\n"
    if (
        min(lengths) < 10
        or (whole is not None and max(lengths) != whole)
        or "Z\n" in joined
        or any(map(joined.__contains__, _ISO_SENTINELS))
    ):
        texts = [
            t
            for t in texts
            if len(t) >= 10
            and (whole is None or len(t) == whole)
            and t[:10] not in NULL_DATE_SENTINELS
            and t[-1] != "Z"
        ]
    values: list[Any] = []
    failed: list[int] = []
    rest: Iterable[str] = texts
    while True:
        try:  # what is read before a failure stays in ``values``
            values.extend(map(convert, rest))
        except ValueError:
            failed.append(len(values) + len(failed))
            rest = islice(texts, failed[-1] + 1, None)
            continue
        break
    if failed:
        skipped = set(failed)
        texts = [t for i, t in enumerate(texts) if i not in skipped]
    return texts, values


def read_dates(texts: list[str]) -> tuple[list[str], list[date]]:
    """Of distinct stripped texts that are not null spellings, those :func:`date_from` reads
    with ``date.fromisoformat`` alone, read all at once, and their dates (the rest is left to
    :func:`date_from`, one by one)."""
    return _iso_read(list(compress(texts, _dashed(texts))), 10, date.fromisoformat)


def read_datetimes(texts: list[str]) -> tuple[list[str], list[datetime]]:
    """Of distinct stripped texts that are not null spellings, the texts :func:`datetime_from`
    reads to a date/time, read all at once, and their values: ISO texts by
    ``datetime.fromisoformat``, the others (such as ``02/13/2019 4:45 PM``) from the cached
    date and time of day of their two parts. Texts it reads another way (a date alone, a
    ``T``, a sentinel date) or not at all are left to :func:`datetime_from`, one by one."""
    dashed = _dashed(texts)
    read, values = _iso_read(list(compress(texts, dashed)), None, datetime.fromisoformat)
    if len(read) == len(texts):
        return read, values
    others = list(compress(texts, map(not_, dashed)))
    if "T" in "".join(others):  # split at a 'T' before a space: left to the parser
        others = [t for t in others if "T" not in t]
    if others:
        parts = list(map(str.partition, others, repeat(" ")))
        day_values = list(map(_day, map(itemgetter(0), parts)))
        clocks = list(map(_clock, map(str.strip, map(itemgetter(2), parts))))
        # each a date (a date read with a problem has none) and a time of day: neither of
        # them is ever false
        if not (all(day_values) and all(clocks)):
            keep = list(map(all, zip(day_values, clocks, strict=True)))
            others = list(compress(others, keep))
            day_values = list(compress(day_values, keep))
            clocks = list(compress(clocks, keep))
        read += others
        values += map(datetime.combine, cast(list[date], day_values), cast(list[time], clocks))
    return read, values


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
