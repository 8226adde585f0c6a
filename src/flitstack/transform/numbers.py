"""Whole numbers and decimals for Pipedrive's numeric (``double``) fields."""

from __future__ import annotations

import math
import re

from flitstack.source.values import is_null, parse_int
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail

# Plain decimal notation only: exponents like 1e999999999 would make huge ints.
_DECIMAL = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_MAX_DIGITS = 15  # a double keeps 15 significant digits exactly


def integer(raw: str | None, ctx: TransformContext) -> Outcome:
    """A whole number (``12``, ``1,200``, ``12.0``)."""
    if is_null(raw):
        return EMPTY
    assert raw is not None
    cleaned = raw.strip().replace(",", "")
    if not _DECIMAL.match(cleaned) or len(cleaned.lstrip("+-").split(".")[0]) > _MAX_DIGITS:
        return fail("not a whole number")
    parsed = parse_int(cleaned)
    if parsed.problem or parsed.value is None:
        return fail("not a whole number")
    return Outcome(parsed.value)


def number(raw: str | None, ctx: TransformContext) -> Outcome:
    """A decimal number (``12.5``, ``1,234.56``)."""
    if is_null(raw):
        return EMPTY
    assert raw is not None
    cleaned = raw.strip().replace(",", "")
    if not _DECIMAL.match(cleaned) or len(cleaned.lstrip("+-").split(".")[0]) > _MAX_DIGITS:
        return fail("not a number")
    value = float(cleaned)
    if not math.isfinite(value):
        return fail("not a finite number")
    return Outcome(value)
