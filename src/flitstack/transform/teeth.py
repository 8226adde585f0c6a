"""Tooth numbers between Universal, FDI and Palmer notation.

Every tooth is held internally as its FDI code (two digits: quadrant then position), the one
notation whose numbers carry their own meaning. Quadrants (UR…) and arches (U, L, UA, LA) are
the same in every notation we accept and pass through. Lists (``2, 3``) and ranges (``2-5``)
convert tooth by tooth.
"""

from __future__ import annotations

import re

from flitstack.settings import ToothNotation
from flitstack.source.values import is_null
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail

_UNIVERSAL_PERMANENT = [
    *(18, 17, 16, 15, 14, 13, 12, 11, 21, 22, 23, 24, 25, 26, 27, 28),
    *(38, 37, 36, 35, 34, 33, 32, 31, 41, 42, 43, 44, 45, 46, 47, 48),
]  # Universal 1..32 → FDI
_UNIVERSAL_PRIMARY = [
    *(55, 54, 53, 52, 51, 61, 62, 63, 64, 65),
    *(75, 74, 73, 72, 71, 81, 82, 83, 84, 85),
]  # Universal A..T → FDI
_FDI_TO_UNIVERSAL: dict[int, str] = {f: str(i + 1) for i, f in enumerate(_UNIVERSAL_PERMANENT)}
_FDI_TO_UNIVERSAL.update({f: chr(ord("A") + i) for i, f in enumerate(_UNIVERSAL_PRIMARY)})
_PALMER_QUADRANT = {1: "UR", 2: "UL", 3: "LL", 4: "LR", 5: "UR", 6: "UL", 7: "LL", 8: "LR"}
_QUADRANT_NUMBER = {"UR": 1, "UL": 2, "LL": 3, "LR": 4}
AREAS = frozenset({"UR", "UL", "LR", "LL", "U", "L", "UA", "LA"})
_PALMER = re.compile(r"(UR|UL|LL|LR)[\s/]*([1-8A-E])|([1-8A-E])[\s/]*(UR|UL|LL|LR)")
_LIST_SEPARATOR = re.compile(r"[,;]")
_MAX_INPUT = 200

ALL_FDI: tuple[int, ...] = tuple(sorted(_FDI_TO_UNIVERSAL))


class ToothError(ValueError):
    """The text is not a tooth in the given notation."""


def _ascii_digits(t: str) -> bool:
    return t.isascii() and t.isdigit() and len(t) <= 3


def to_fdi(token: str, notation: ToothNotation) -> int:
    """One tooth in ``notation`` → its FDI code."""
    t = token.strip().lstrip("#").strip().upper()
    if notation is ToothNotation.UNIVERSAL:
        if _ascii_digits(t) and 1 <= int(t) <= 32:
            return _UNIVERSAL_PERMANENT[int(t) - 1]
        if len(t) == 1 and "A" <= t <= "T":
            return _UNIVERSAL_PRIMARY[ord(t) - ord("A")]
    elif notation is ToothNotation.FDI:
        if _ascii_digits(t) and int(t) in _FDI_TO_UNIVERSAL:
            return int(t)
    else:
        m = _PALMER.fullmatch(t)
        if m:
            quadrant = _QUADRANT_NUMBER[m.group(1) or m.group(4)]
            pos = m.group(2) or m.group(3)
            if pos.isdigit():
                return quadrant * 10 + int(pos)
            return (quadrant + 4) * 10 + ord(pos) - ord("A") + 1
    raise ToothError(f"not a tooth in {notation.value} notation")


def from_fdi(code: int, notation: ToothNotation) -> str:
    """An FDI code → the tooth in ``notation``."""
    if code not in _FDI_TO_UNIVERSAL:
        raise ToothError(f"{code} is not an FDI tooth code")
    if notation is ToothNotation.UNIVERSAL:
        return _FDI_TO_UNIVERSAL[code]
    if notation is ToothNotation.FDI:
        return str(code)
    quadrant, pos = divmod(code, 10)
    letter = str(pos) if quadrant <= 4 else chr(ord("A") + pos - 1)
    return f"{_PALMER_QUADRANT[quadrant]}{letter}"


def _convert_one(item: str, src: ToothNotation, dst: ToothNotation) -> str:
    t = item.strip().lstrip("#").strip().upper()
    if not t:
        raise ToothError("empty tooth")
    if t in AREAS:
        return t
    if "-" in t:
        parts = [p.strip().lstrip("#").strip() for p in t.split("-")]
        if len(parts) != 2 or not all(parts):
            raise ToothError("a range needs two teeth, like 2-5")
        return "-".join(from_fdi(to_fdi(p, src), dst) for p in parts)
    return from_fdi(to_fdi(t, src), dst)


def convert_tooth(text: str, src: ToothNotation, dst: ToothNotation) -> str:
    """A tooth, range (``2-5``), quadrant, arch or list (``2, 3``) from one notation to another.

    Raises ``ToothError`` when any part is not a tooth in ``src``.
    """
    if len(text) > _MAX_INPUT:
        raise ToothError("too long to be a tooth list")
    items = _LIST_SEPARATOR.split(text)
    if len(items) > 1 and not all(i.strip() for i in items):
        raise ToothError("empty entry in a tooth list")
    return ", ".join(_convert_one(i, ToothNotation(src), ToothNotation(dst)) for i in items)


def tooth(raw: str | None, ctx: TransformContext) -> Outcome:
    """Tooth text in the export's notation → the notation the practice wants in Pipedrive."""
    if is_null(raw):
        return EMPTY
    assert raw is not None
    requested = ctx.options.get("notation") or ctx.settings.source_tooth_notation
    try:
        src = ToothNotation(str(requested).strip().lower())
    except ValueError:
        return fail(f"unknown tooth notation {str(requested)[:20]!r} in the map")
    try:
        return Outcome(convert_tooth(raw, src, ctx.settings.target_tooth_notation))
    except ToothError as exc:
        return fail(str(exc))
