"""Numbers with units (``1h 30m``, ``6 mos``, ``2 yrs``), as durations and intervals are written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

#: One quantity: a plain decimal (no exponent, so no huge numbers) and an optional word unit,
#: optionally led by ``,`` or ``and`` when it follows another quantity.
_PART = re.compile(
    r"\s*(,\s*|and\s+)?([0-9]{1,6}(?:\.[0-9]{1,6})?|\.[0-9]{1,6})\s*([a-z]+)?\.?\s*",
    re.ASCII,
)
MAX_PARTS = 3
MAX_TEXT = 40


def quantities(text: str, units: Mapping[str, str]) -> list[tuple[Decimal, str | None]] | None:
    """``"1h 30"`` → ``[(1, "h"), (30, None)]``, units named by ``units``; ``None`` if not that.

    Each spelling in ``units`` (casefolded, e.g. ``"hrs"``) maps to its unit key (``"h"``); a
    number without a unit has ``None``. Text with anything else (signs, exponents, unknown words,
    more than ``MAX_PARTS`` quantities) is ``None``, so callers never guess.
    """
    s = text.strip().casefold()
    if not s or len(s) > MAX_TEXT or not s.isascii():
        return None
    parts: list[tuple[Decimal, str | None]] = []
    pos = 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None or (m[1] and not parts):  # no number, or a separator leading the text
            return None
        word = m[3]
        unit = None if word is None else units.get(word)
        if word is not None and unit is None:
            return None
        parts.append((Decimal(m[2]), unit))
        if len(parts) > MAX_PARTS:
            return None
        pos = m.end()
    return parts or None
