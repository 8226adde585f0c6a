"""The transform registry: names the mapping workbook uses → functions, and ``apply``.

The engine resolves references (``ref``, ``provider_name``, ``location_name``) and value maps
(``value_map``) itself, since they need other records; every pure value transform is here.
"""

from __future__ import annotations

from flitstack.transform.cdt import cdt, cdt_list, surfaces
from flitstack.transform.choices import bool_yes_no, picklist
from flitstack.transform.dates import date, datetime_utc, due_datetime, duration
from flitstack.transform.emails import email
from flitstack.transform.intervals import interval_months
from flitstack.transform.money import money, money_value
from flitstack.transform.notes import note_html
from flitstack.transform.numbers import integer, number
from flitstack.transform.outcome import Outcome, Transform, TransformContext, fail
from flitstack.transform.phones import phone_e164
from flitstack.transform.teeth import tooth
from flitstack.transform.text import cut, name, none, text, truncate

#: Pipedrive's documented length limits by field type, in characters ("Text (up to 255
#: characters)", "Long text (up to 65k characters)", notes "approximately 100,000 characters").
PIPEDRIVE_LIMITS: dict[str, int] = {
    "varchar": 255,
    "varchar_auto": 255,
    "name": 255,
    "title": 255,
    "phone": 255,
    "address": 255,
    "email": 255,
    "enum_option": 255,
    "text": 65_535,
    "note": 100_000,
}

#: Every key a transform reads from ``ctx.options`` (the mapping workbook's column options).
OPTION_KEYS: frozenset[str] = frozenset(
    {"options", "region", "currency", "notation", "timezone", "format", "past_only"}
)

TRANSFORMS: dict[str, Transform] = {
    "text": text,
    "name": name,
    "truncate": truncate,
    "none": none,
    "phone_e164": phone_e164,
    "email": email,
    "date": date,
    "datetime": datetime_utc,
    "due_datetime": due_datetime,
    "duration": duration,
    "interval_months": interval_months,
    "money": money,
    "money_value": money_value,
    "int": integer,
    "number": number,
    "bool_yes_no": bool_yes_no,
    "bool": bool_yes_no,
    "picklist": picklist,
    "enum": picklist,
    "tooth": tooth,
    "cdt": cdt,
    "cdt_list": cdt_list,
    "surfaces": surfaces,
    "note_html": note_html,
}

#: transforms that read a date from the cell (an export that writes dates day first has them
#: turned month first before: :func:`flitstack.source.reader.month_first`)
DATE_TRANSFORMS = frozenset({"date", "datetime", "due_datetime"})


def apply(name: str, raw: str | None, ctx: TransformContext) -> Outcome:
    """Run a named transform, then cut a string value to ``ctx.field_limit``; never raises."""
    transform = TRANSFORMS.get(name)
    if transform is None:
        return fail(f"unknown transform {name[:40]!r}")
    if raw is not None and not isinstance(raw, str):
        raw = str(raw)  # a defensive guard for callers holding typed values
    try:
        out = transform(raw, ctx)
    except Exception as exc:  # a library corner case must never stop the run
        return fail(f"{name} failed unexpectedly ({type(exc).__name__})")
    return cut(out, ctx.field_limit)
