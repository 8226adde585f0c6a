"""The value transforms, one small pure function each: text in, ``Outcome`` out, never raising.

Names are the ones the mapping workbook uses (``transform: phone_e164``). The engine resolves
references (``ref``, ``provider_name``…) and value maps itself; those are not here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from rapidfuzz import fuzz, process

from flitstack.settings import ToothNotation
from flitstack.source import values as v
from flitstack.transform.notes import note_to_html
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail
from flitstack.transform.teeth import ToothError, convert_tooth

Transform = Callable[[str | None, TransformContext], Outcome]

#: Pipedrive's length limits by custom field type (characters).
PIPEDRIVE_LIMITS: dict[str, int] = {
    "varchar": 255,
    "varchar_auto": 255,
    "name": 255,
    "phone": 255,
    "address": 255,
    "text": 65_000,
    "note": 100_000,
}


def _blank(text: str | None) -> bool:
    return v.is_null(text)


def text(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    assert raw is not None
    return Outcome(" ".join(raw.split()) if "\n" not in raw else raw.strip())


def name(raw: str | None, ctx: TransformContext) -> Outcome:
    """A name part: spaces collapsed; ALL-CAPS or all-lower names title-cased."""
    if _blank(raw):
        return EMPTY
    assert raw is not None
    value = " ".join(raw.split())
    if len(value) > 2 and (value.isupper() or value.islower()):
        value = value.title()
    return Outcome(value)


def phone_e164(raw: str | None, ctx: TransformContext) -> Outcome:
    """Any phone format → E.164 (``+15125550123``), extension kept as ``;ext=12``."""
    if _blank(raw):
        return EMPTY
    assert raw is not None
    try:
        number = phonenumbers.parse(raw, ctx.settings.region)
    except phonenumbers.NumberParseException:
        return fail("not a phone number")
    if not phonenumbers.is_possible_number(number):
        return fail("not a possible phone number for its region")
    value = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    flags: tuple[str, ...] = ()
    if number.extension:
        value += f";ext={number.extension}"
    if not phonenumbers.is_valid_number(number):
        flags = ("phone_unverified",)
    return Outcome(value, True, flags, "number plan does not recognise it" if flags else None)


def email(raw: str | None, ctx: TransformContext) -> Outcome:
    """Normalised address; an invalid one stays out of the field and goes to manual review."""
    if _blank(raw):
        return EMPTY
    assert raw is not None
    candidate = raw.strip()
    try:
        checked = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        return fail(f"invalid e-mail ({exc}); left empty for manual review", "manual_review")
    return Outcome(checked.normalized)


def _tz(ctx: TransformContext) -> ZoneInfo:
    try:
        return ZoneInfo(ctx.settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def to_utc(raw: str | None, tz: ZoneInfo) -> datetime | None:
    """Practice-local wall time (or text with an offset) → aware UTC datetime."""
    parsed = v.parse_datetime(raw)
    if parsed.problem or parsed.value is None:
        return None
    dt: datetime = parsed.value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC)


def date_(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    parsed = v.parse_date(raw)
    if parsed.problem:
        return fail("not a date in any form MDC writes")
    value: date | None = parsed.value
    return Outcome(value.isoformat() if value else None)


def datetime_(raw: str | None, ctx: TransformContext) -> Outcome:
    """→ UTC ``YYYY-MM-DD HH:MM:SS``, Pipedrive's add_time form."""
    if _blank(raw):
        return EMPTY
    parsed = v.parse_datetime(raw)
    if parsed.problem:
        return fail("not a date/time in any form MDC writes")
    if parsed.value is None:
        return EMPTY
    dt = to_utc(raw, _tz(ctx))
    assert dt is not None
    return Outcome(dt.strftime("%Y-%m-%d %H:%M:%S"))


def due_datetime(raw: str | None, ctx: TransformContext) -> Outcome:
    """→ ``{"due_date", "due_time"}`` in UTC, as activities take them."""
    out = datetime_(raw, ctx)
    if not out.ok or out.value is None:
        return out
    day, time = out.value.split(" ")
    return Outcome({"due_date": day, "due_time": time[:5]})


def duration(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    minutes = v.parse_int(raw)
    if minutes.problem or minutes.value is None or not 0 < minutes.value < 24 * 60:
        return fail("duration must be whole minutes between 1 and 1439")
    hours, mins = divmod(minutes.value, 60)
    return Outcome(f"{hours:02d}:{mins:02d}")


def money_value(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    parsed = v.parse_money(raw)
    if parsed.problem or not isinstance(parsed.value, Decimal):
        return fail("not an amount of money")
    if not parsed.value.is_finite() or abs(parsed.value) >= Decimal("1e12"):
        return fail("amount out of range")
    return Outcome(float(parsed.value.quantize(Decimal("0.01"))))


def money(raw: str | None, ctx: TransformContext) -> Outcome:
    """→ ``{"value": 1234.5, "currency": "USD"}`` for monetary fields and Deal values."""
    out = money_value(raw, ctx)
    if not out.ok or out.value is None:
        return out
    return Outcome({"value": out.value, "currency": ctx.settings.currency})


def integer(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    parsed = v.parse_int(raw)
    if parsed.problem or abs(parsed.value) >= 10**15:
        return fail("not a whole number")
    return Outcome(parsed.value)


def number(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    assert raw is not None
    cleaned = raw.strip().replace(",", "")
    try:
        value = float(Decimal(cleaned))
    except Exception:
        return fail("not a number")
    if value != value or abs(value) == float("inf"):
        return fail("not a finite number")
    return Outcome(value)


def bool_yes_no(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    parsed = v.parse_yes_no(raw)
    if parsed.problem:
        return fail("not a yes/no value")
    return Outcome("Yes" if parsed.value else "No")


def tooth(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    assert raw is not None
    src = ToothNotation(ctx.options.get("notation") or ctx.settings.source_tooth_notation)
    try:
        return Outcome(convert_tooth(raw, src, ctx.settings.target_tooth_notation))
    except ToothError as exc:
        return fail(str(exc))


_CDT = re.compile(r"^D\d{4}$")


def cdt(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    assert raw is not None
    code = raw.strip().upper()
    if not _CDT.match(code):
        return fail("not a CDT code (D followed by four digits)")
    return Outcome(code)


def cdt_list(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    assert raw is not None
    parts = [p.strip().upper() for p in re.split(r"[;,]", raw) if p.strip()]
    good = [p for p in parts if _CDT.match(p)]
    bad = len(parts) - len(good)
    if not good:
        return fail("no valid CDT code in the list")
    if bad:
        return Outcome("; ".join(good), True, ("some_codes_invalid",), f"{bad} invalid code(s)")
    return Outcome("; ".join(good))


_SURFACE_ORDER = "MODBLFI"


def surfaces(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    assert raw is not None
    letters = raw.strip().upper()
    if (
        not letters
        or any(c not in _SURFACE_ORDER for c in letters)
        or len(set(letters)) != len(letters)
    ):
        return fail("surfaces are distinct letters of MODBLFI")
    return Outcome("".join(c for c in _SURFACE_ORDER if c in letters))


def note_html(raw: str | None, ctx: TransformContext) -> Outcome:
    if _blank(raw):
        return EMPTY
    assert raw is not None
    try:
        return Outcome(note_to_html(raw, ctx.options.get("format")))
    except Exception as exc:  # a malformed RTF/HTML body must not stop the run
        return fail(f"note could not be converted: {type(exc).__name__}")


def picklist(raw: str | None, ctx: TransformContext) -> Outcome:
    """A value → one of the field's options (case-insensitive, then fuzzy ≥ 90)."""
    if _blank(raw):
        return EMPTY
    assert raw is not None
    options: list[str] = list(ctx.options.get("options") or [])
    value = " ".join(raw.split())
    if not options:
        return Outcome(value)
    key = "".join(value.split()).casefold()
    for option in options:
        if "".join(option.split()).casefold() == key:
            return Outcome(option)
    alias = v.parse_enum(value, options)
    if alias.problem is None:
        return Outcome(alias.value)
    best = process.extractOne(value, options, scorer=fuzz.WRatio, score_cutoff=90)
    if best is not None:
        return Outcome(best[0], True, ("fuzzy_option",), f"matched option {best[0]!r}")
    return fail(f"not one of the field's options: {', '.join(options)}")


def none(raw: str | None, ctx: TransformContext) -> Outcome:
    return EMPTY


TRANSFORMS: dict[str, Transform] = {
    "text": text,
    "name": name,
    "phone_e164": phone_e164,
    "email": email,
    "date": date_,
    "datetime": datetime_,
    "due_datetime": due_datetime,
    "duration": duration,
    "money": money,
    "money_value": money_value,
    "int": integer,
    "number": number,
    "bool_yes_no": bool_yes_no,
    "tooth": tooth,
    "cdt": cdt,
    "cdt_list": cdt_list,
    "surfaces": surfaces,
    "note_html": note_html,
    "picklist": picklist,
    "none": none,
}


def truncate(out: Outcome, limit: int | None) -> Outcome:
    """Cut a string value to the field's limit, flagged."""
    if limit is None or not isinstance(out.value, str) or len(out.value) <= limit:
        return out
    return Outcome(out.value[:limit], out.ok, (*out.flags, "truncated"), f"cut to {limit} chars")


def apply(name: str, raw: str | None, ctx: TransformContext) -> Outcome:
    """Run a named transform, then truncate to the field limit; never raises on any text."""
    transform = TRANSFORMS.get(name)
    if transform is None:
        return fail(f"unknown transform {name!r}")
    try:
        out = transform(raw, ctx)
    except Exception as exc:  # defensive: a library corner case must not stop the run
        return fail(f"{name} failed: {type(exc).__name__}")
    return truncate(out, ctx.field_limit)
