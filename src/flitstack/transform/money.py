"""Money amounts (``$1,234.50``, ``(45.00)``) → Pipedrive monetary values."""

from __future__ import annotations

from decimal import Decimal

from flitstack.source.values import is_null, parse_money
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail

_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("1e12")  # far beyond any dental fee; guards float precision
_MAX_INPUT = 40


def amount(raw: str | None) -> Decimal | str | None:
    """The amount rounded to cents, ``None`` for a null, or a problem text."""
    if is_null(raw):
        return None
    assert raw is not None
    if len(raw.strip()) > _MAX_INPUT:
        return "too long to be an amount of money"
    if not raw.isascii() or raw.count("-") > 1:
        return "not an amount of money (1234.5, $1,234.50, (45.00))"
    parsed = parse_money(raw)
    if parsed.problem or not isinstance(parsed.value, Decimal) or not parsed.value.is_finite():
        return "not an amount of money (1234.5, $1,234.50, (45.00))"
    if abs(parsed.value) >= _MAX_AMOUNT:
        return "amount out of range"
    return parsed.value.quantize(_CENT)


def money_value(raw: str | None, ctx: TransformContext) -> Outcome:
    """→ a float (Deal value, plain number fields)."""
    result = amount(raw)
    if result is None:
        return EMPTY
    if isinstance(result, str):
        return fail(result)
    return Outcome(float(result))


def money(raw: str | None, ctx: TransformContext) -> Outcome:
    """→ ``{"value": 1234.5, "currency": "USD"}`` for monetary custom fields."""
    out = money_value(raw, ctx)
    if not out.ok or out.value is None:
        return out
    currency = ctx.options.get("currency") or ctx.settings.currency
    return Outcome({"value": out.value, "currency": currency})
