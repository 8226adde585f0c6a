"""Money amounts (``$1,234.50``, ``(45.00)``, ``45.00-``, ``USD 12.50``) → Pipedrive values."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from flitstack.source.values import is_null
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail, flagged

_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("1e12")  # far beyond any dental fee; guards float precision
_MAX_INPUT = 40
_FORMS = "not an amount of money (1234.5, $1,234.50, (45.00), 45.00-, USD 12.50)"

#: Symbols that name one currency; ``$`` is many (USD, CAD, AUD…) and takes the settings'.
_SYMBOLS: dict[str, str | None] = {"$": None, "€": "EUR", "£": "GBP"}
#: ISO 4217 codes written next to amounts; the settings' currency is always accepted too.
_CODES = frozenset(
    {"USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "JPY", "MXN"}
    | {"INR", "ZAR", "PLN", "CZK", "HUF", "BRL", "SGD", "HKD", "CNY", "ILS", "AED"}
)
_LEADING_CODE = re.compile(r"^([A-Za-z]{3})(?![A-Za-z])\s*", re.ASCII)
_TRAILING_CODE = re.compile(r"\s*(?<![A-Za-z])([A-Za-z]{3})$", re.ASCII)
#: Thousands separators: ``,``/``.`` (whichever is not the decimal point), spaces, apostrophes.
_GROUPING = frozenset(",. \u00a0\u202f\u2009'’")
_ASCII_DIGITS = frozenset("0123456789")


class Amount(NamedTuple):
    value: Decimal
    currency: str | None  # named by a code or symbol in the text; None: the settings' currency


def _digits(text: str) -> bool:
    return bool(text) and all(c in _ASCII_DIGITS for c in text)


def _number(body: str) -> Decimal | None:
    """``1,234.50``, ``1.234,50``, ``1 234,5``, ``12,50``, ``.5`` → Decimal; None if not a number.

    With both ``.`` and ``,`` the last one is the decimal point. A lone ``,`` before exactly three
    digits groups thousands (``1,234``); before one or two digits it is a decimal comma. Grouped
    digits must come in threes with one kind of separator, so ``1.2.3`` is not read.
    """
    dot, comma = body.rfind("."), body.rfind(",")
    point: str | None = None
    if dot >= 0 and comma >= 0:
        point = "." if dot > comma else ","
    elif comma >= 0:
        point = "," if body.count(",") == 1 and len(body) - comma - 1 in (1, 2) else None
    elif dot >= 0:
        point = "." if body.count(".") == 1 else None
    whole, fraction = (body.rpartition(point)[::2]) if point else (body, "")
    if fraction and not _digits(fraction):
        return None
    if not whole:
        if not fraction:
            return None
    elif not _digits(whole):
        separators = {c for c in whole if c not in _ASCII_DIGITS}
        if len(separators) != 1 or point in separators:
            return None
        (separator,) = separators
        if separator not in _GROUPING:
            return None
        head, *groups = whole.split(separator)
        if not (_digits(head) and len(head) <= 3 and all(len(g) == 3 for g in groups)):
            return None
        if not all(_digits(g) for g in groups):
            return None
        whole = head + "".join(groups)
    try:
        return Decimal(f"{whole or '0'}.{fraction or '0'}")
    except InvalidOperation:  # pragma: no cover - only ASCII digits reach here
        return None


def parse_amount(raw: str, home: str | None = None) -> Amount | str:
    """The amount and any currency the text names, or why it is not money.

    One sign at most: ``-45``, ``45-``, ``(45)``, ``+45``; one symbol and one ISO code at most,
    leading or following (``$45``, ``45 €``, ``USD 12.50``, ``-$45``, ``$-45``, ``($45.00)``).
    ``home`` (the settings' currency) is accepted as a code even when not in the built-in list.
    """
    s = raw.strip()
    codes = _CODES | ({home.upper()} if home else set())
    signs, negative = 0, False
    symbols: list[str | None] = []
    named_codes: list[str] = []
    while s:
        if s[0] == "(" and s[-1] == ")":
            signs, negative, s = signs + 1, True, s[1:-1].strip()
        elif s[0] in "-+":
            signs, negative, s = signs + 1, s[0] == "-", s[1:].strip()
        elif s[-1] == "-":
            signs, negative, s = signs + 1, True, s[:-1].strip()
        elif s[0] in _SYMBOLS:
            symbols.append(_SYMBOLS[s[0]])
            s = s[1:].strip()
        elif s[-1] in _SYMBOLS:
            symbols.append(_SYMBOLS[s[-1]])
            s = s[:-1].strip()
        elif (m := _LEADING_CODE.match(s)) and m[1].upper() in codes:
            named_codes.append(m[1].upper())
            s = s[m.end() :]
        elif (m := _TRAILING_CODE.search(s)) and m[1].upper() in codes:
            named_codes.append(m[1].upper())
            s = s[: m.start()]
        else:
            break
    named = {c for c in (*symbols, *named_codes) if c is not None}
    if signs > 1 or len(symbols) > 1 or len(named_codes) > 1 or len(named) > 1:
        return _FORMS
    value = _number(s)
    if value is None:
        return _FORMS
    return Amount(-value if negative else value, named.pop() if named else None)


def amount(raw: str | None, home: str | None = None) -> Amount | str | None:
    """The amount rounded to cents (and any currency named), ``None`` for a null, or a problem."""
    if is_null(raw):
        return None
    assert raw is not None
    if len(raw.strip()) > _MAX_INPUT:
        return "too long to be an amount of money"
    parsed = parse_amount(raw, home)
    if isinstance(parsed, str):
        return parsed
    if abs(parsed.value) >= _MAX_AMOUNT:
        return "amount out of range"
    return Amount(parsed.value.quantize(_CENT), parsed.currency)


def _home(ctx: TransformContext) -> str:
    return str(ctx.options.get("currency") or ctx.settings.currency).upper()


def money_value(raw: str | None, ctx: TransformContext) -> Outcome:
    """→ a float (Deal value, plain number fields); another currency named in it is flagged."""
    home = _home(ctx)
    result = amount(raw, home)
    if result is None:
        return EMPTY
    if isinstance(result, str):
        return fail(result)
    if result.currency not in (None, home):
        return flagged(
            float(result.value), "other_currency", f"amount in {result.currency}, not {home}"
        )
    return Outcome(float(result.value))


def money(raw: str | None, ctx: TransformContext) -> Outcome:
    """→ ``{"value": 1234.5, "currency": "USD"}`` for monetary fields.

    The currency is the one the text names (``€``, ``£``, ``EUR 12``), else the settings' (``$``
    names no single currency, so it takes the settings').
    """
    home = _home(ctx)
    result = amount(raw, home)
    if result is None:
        return EMPTY
    if isinstance(result, str):
        return fail(result)
    return Outcome({"value": float(result.value), "currency": result.currency or home})
