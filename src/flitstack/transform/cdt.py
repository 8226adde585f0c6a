"""Procedure codes (CDT, ``D0120``) and tooth surfaces (``MOD``)."""

from __future__ import annotations

import re

from flitstack.source.values import is_null
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail, preview

_CDT = re.compile(r"D\d{4}")
_SEPARATORS = re.compile(r"[;,|\n]")
#: Surface letters in the order dental charts write them.
SURFACE_ORDER = "MODBLFI"
_MAX_LISTED = 5


def normalise_cdt(text: str) -> str | None:
    """``" d2740 "`` / ``"D 2740"`` → ``"D2740"``; ``None`` when it is not a CDT code."""
    code = "".join(text.split()).upper()
    return code if code.isascii() and _CDT.fullmatch(code) else None


def cdt(raw: str | None, ctx: TransformContext) -> Outcome:
    """One CDT code, D0000–D9999."""
    if is_null(raw):
        return EMPTY
    assert raw is not None
    code = normalise_cdt(raw)
    if code is None:
        return fail("not a CDT code (D followed by four digits)")
    return Outcome(code)


def cdt_list(raw: str | None, ctx: TransformContext) -> Outcome:
    """``D0120;d1110`` → ``"D0120; D1110"``; bad entries are named (cut short) in the reason."""
    if is_null(raw):
        return EMPTY
    assert raw is not None
    parts = [p.strip() for p in _SEPARATORS.split(raw) if p.strip()]
    good: list[str] = []
    bad: list[str] = []
    for part in parts:
        code = normalise_cdt(part)
        if code is None:
            bad.append(part)
        elif code not in good:
            good.append(code)
    if not good:
        return fail(f"no valid CDT code in the list ({_describe(bad)})")
    if bad:
        reason = f"{len(bad)} invalid code(s) left out: {_describe(bad)}"
        return Outcome("; ".join(good), True, ("some_codes_invalid",), reason)
    return Outcome("; ".join(good))


def _describe(bad: list[str]) -> str:
    shown = ", ".join(preview(b, 8) for b in bad[:_MAX_LISTED])
    return shown + (" …" if len(bad) > _MAX_LISTED else "")


def surfaces(raw: str | None, ctx: TransformContext) -> Outcome:
    """Surface letters (``dom``, ``M,O``) → distinct letters in chart order (``MOD``)."""
    if is_null(raw):
        return EMPTY
    assert raw is not None
    if not raw.isascii():
        return fail(f"surfaces are letters of {SURFACE_ORDER}")
    letters = "".join(c for c in raw.upper() if not c.isspace() and c not in ",;/-")
    if not letters or any(c not in SURFACE_ORDER for c in letters):
        return fail(f"surfaces are letters of {SURFACE_ORDER}")
    return Outcome("".join(c for c in SURFACE_ORDER if c in letters))
