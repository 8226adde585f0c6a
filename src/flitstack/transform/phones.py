"""Phone numbers in any format → E.164, the form Pipedrive dials and de-duplicates on."""

from __future__ import annotations

import phonenumbers

from flitstack.source.values import is_null
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail

# Longer than any real number with an extension: libphonenumber is not fed unbounded text.
_MAX_INPUT = 64
_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


def phone_e164(raw: str | None, ctx: TransformContext) -> Outcome:
    """Any phone format → ``+15125550123``; an extension is kept as ``;ext=12`` (RFC 3966).

    A number the numbering plan does not know (e.g. a 555 exchange) still goes in, flagged, since
    the practice may well dial it; text that cannot be a number at all is rejected.
    """
    if is_null(raw):
        return EMPTY
    assert raw is not None
    candidate = raw.strip()
    if len(candidate) > _MAX_INPUT:
        return fail(f"too long to be a phone number ({len(candidate)} characters)")
    if not any(c.isdigit() for c in candidate):
        return fail("not a phone number (no digits)")
    region = (ctx.options.get("region") or ctx.settings.region or "US").upper()
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as exc:
        return fail(f"not a phone number ({_PARSE_ERRORS.get(exc.error_type, 'unreadable')})")
    if not phonenumbers.is_possible_number(number):
        return fail(f"not a possible phone number for region {region}")
    value = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.extension:
        value += f";ext={number.extension}"
    if not phonenumbers.is_valid_number(number):
        return Outcome(value, True, ("phone_unverified",), "the numbering plan does not know it")
    return Outcome(value)
