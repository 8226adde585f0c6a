"""Free text and name parts: whitespace tidied, control characters dropped, ALL-CAPS names fixed."""

from __future__ import annotations

import re

from flitstack.source.values import is_null
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext

# C0/C1 control characters other than tab and newline: Pipedrive rejects or mangles them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_INLINE_SPACE = re.compile(r"[ \t\u00a0]+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
_POSSESSIVE = re.compile(r"(?<=\w)'S\b")
# Tokens that keep their capitals when a shouted name is title-cased.
_KEEP_UPPER = frozenset({"II", "III", "IV", "VI", "DDS", "DMD", "MD", "RDH", "PHD", "DO", "NP"})


def clean(raw: str) -> str:
    """Strip, drop control characters, collapse runs of spaces; keep single blank lines."""
    unified = raw.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_INLINE_SPACE.sub(" ", _CONTROL.sub("", line)).strip() for line in unified.split("\n")]
    return _MANY_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def text(raw: str | None, ctx: TransformContext) -> Outcome:
    """Any free text; null spellings become empty."""
    if is_null(raw):
        return EMPTY
    assert raw is not None
    return Outcome(clean(raw) or None)


def _title_token(token: str) -> str:
    if token in _KEEP_UPPER:
        return token
    titled = token.title()
    # str.title() would give "Mcdonald"; the Mc prefix is common enough to get right.
    if len(titled) > 3 and titled.startswith("Mc"):
        titled = "Mc" + titled[2:].capitalize()
    # ...and "John'S" for a possessive.
    return _POSSESSIVE.sub("'s", titled)


def tidy_name(value: str) -> str:
    """A name part with one space between words; shouted or all-lower names title-cased."""
    single = " ".join(_CONTROL.sub("", value).split())
    letters = [c for c in single if c.isalpha()]
    if len(letters) >= 2 and (single.isupper() or single.islower()):
        return " ".join(_title_token(t) for t in single.split(" "))
    return single


def name(raw: str | None, ctx: TransformContext) -> Outcome:
    """A first/last/middle name part."""
    if is_null(raw):
        return EMPTY
    assert raw is not None
    return Outcome(tidy_name(raw) or None)


def cut(out: Outcome, limit: int | None) -> Outcome:
    """Cut a string value to the field's limit, flagged so nobody loses text unknowingly."""
    if limit is None or limit < 0 or not isinstance(out.value, str) or len(out.value) <= limit:
        return out
    reason = f"cut from {len(out.value)} to {limit} characters"
    return Outcome(out.value[:limit], out.ok, (*out.flags, "truncated"), reason)


def truncate(raw: str | None, ctx: TransformContext) -> Outcome:
    """Generic text for a limited field: cleaned, then cut to ``ctx.field_limit``."""
    return cut(text(raw, ctx), ctx.field_limit)


def none(raw: str | None, ctx: TransformContext) -> Outcome:
    """A column the map decided not to migrate: the value is dropped on purpose."""
    return EMPTY
