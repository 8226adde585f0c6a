"""E-mail addresses: syntax-checked offline, domain lower-cased, bad ones sent to manual review."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from flitstack.source.values import is_null
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail

INVALID_EMAIL_FLAG = "invalid_email_manual_review"
_MAX_INPUT = 320  # RFC 5321: 64 local + @ + 255 domain


def email(raw: str | None, ctx: TransformContext) -> Outcome:
    """Normalised address, or ``ok=False`` flagged for manual review.

    Only the surrounding spaces are removed: an address with a space inside is a typo someone
    must fix, not something to guess at. Deliverability (DNS) is not checked: transforms do no I/O.
    """
    if is_null(raw):
        return EMPTY
    assert raw is not None
    candidate = raw.strip()
    if len(candidate) > _MAX_INPUT:
        return fail("invalid e-mail (longer than 320 characters)", INVALID_EMAIL_FLAG)
    try:
        checked = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        return fail(f"invalid e-mail: {_short(str(exc))}", INVALID_EMAIL_FLAG)
    except Exception as exc:  # the validator's own corner cases must not stop a run
        return fail(f"invalid e-mail ({type(exc).__name__})", INVALID_EMAIL_FLAG)
    local, _, domain = checked.normalized.rpartition("@")
    return Outcome(f"{local}@{domain.lower()}")


def _short(message: str, keep: int = 120) -> str:
    return message if len(message) <= keep else message[:keep] + "…"
