"""Tooth numbers between Universal, FDI and Palmer notation.

Every tooth is held internally as its FDI code (two digits: quadrant then position), the one
notation whose numbers carry their own meaning. Quadrants (UR…) and arches (U, L) are the same
in every notation we accept and pass through.
"""

from __future__ import annotations

import re

from flitstack.settings import ToothNotation

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
AREAS = frozenset({"UR", "UL", "LR", "LL", "U", "L"})

ALL_FDI: tuple[int, ...] = tuple(sorted(_FDI_TO_UNIVERSAL))


class ToothError(ValueError):
    """The text is not a tooth in the given notation."""


def to_fdi(token: str, notation: ToothNotation) -> int:
    """One tooth in ``notation`` → its FDI code."""
    t = token.strip().lstrip("#").strip().upper()
    if notation is ToothNotation.UNIVERSAL:
        if t.isdigit() and 1 <= int(t) <= 32:
            return _UNIVERSAL_PERMANENT[int(t) - 1]
        if len(t) == 1 and "A" <= t <= "T":
            return _UNIVERSAL_PRIMARY[ord(t) - ord("A")]
    elif notation is ToothNotation.FDI:
        if t.isdigit() and int(t) in _FDI_TO_UNIVERSAL:
            return int(t)
    else:
        m = re.fullmatch(r"(UR|UL|LL|LR)\s*([1-8A-E])", t)
        if m:
            quadrant = _QUADRANT_NUMBER[m.group(1)]
            pos = m.group(2)
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


def convert_tooth(text: str, src: ToothNotation, dst: ToothNotation) -> str:
    """A tooth, range (``2-5``), quadrant or arch from one notation to another."""
    t = text.strip().lstrip("#").strip().upper()
    if not t:
        raise ToothError("empty tooth")
    if t in AREAS:
        return t
    if "-" in t:
        parts = [p.strip() for p in t.split("-")]
        if len(parts) != 2 or not all(parts):
            raise ToothError("a range needs two teeth, like 2-5")
        return "-".join(from_fdi(to_fdi(p, src), dst) for p in parts)
    return from_fdi(to_fdi(t, src), dst)
