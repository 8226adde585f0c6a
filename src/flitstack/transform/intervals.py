"""Recall intervals with units (``6``, ``6 mos``, ``1 yr``, ``26 wks``) → whole months."""

from __future__ import annotations

from fractions import Fraction

from flitstack.source.values import is_null
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail
from flitstack.transform.units import quantities

#: A recall interval longer than this is a typo (or days/weeks written without a unit).
MAX_INTERVAL_MONTHS = 120

_INTERVAL_UNITS: dict[str, str] = {
    **dict.fromkeys(("m", "mo", "mos", "mon", "mons", "mth", "mths", "month", "months"), "m"),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), "y"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "w"),
    **dict.fromkeys(("d", "day", "days"), "d"),
}
#: Months in one of each unit; weeks and days are rounded to the nearest month.
_MONTHS_PER: dict[str, Fraction] = {
    "m": Fraction(1),
    "y": Fraction(12),
    "w": Fraction(12, 52),
    "d": Fraction(12, 365),
}
_FORMS = "months (6, 6m, 6 mos, 1 yr, 2 years, 26 wks)"


def interval_months(raw: str | None, ctx: TransformContext) -> Outcome:
    """→ an int of months: ``6``/``6m``/``6 mos`` → 6, ``1 yr`` → 12, ``26 wks`` → 6.

    A bare number is months. Weeks are ``round(weeks * 12 / 52)`` (days ``* 12 / 365``); months
    and years must come to whole months. Parts may be combined once each (``1 yr 6 mos``).
    """
    if is_null(raw):
        return EMPTY
    assert raw is not None
    parts = quantities(raw, _INTERVAL_UNITS)
    if parts is None:
        return fail(f"not an interval in {_FORMS}")
    units = [unit for _, unit in parts]
    if len(parts) > 1 and (None in units or len(set(units)) != len(units)):
        return fail(f"not an interval in {_FORMS}")
    total = sum((Fraction(amount) * _MONTHS_PER[unit or "m"] for amount, unit in parts), Fraction())
    if {"w", "d"} & set(units):
        months = round(total)  # exact, half to even like round(weeks * 12 / 52)
        if months == 0 and total > 0:
            return fail("interval shorter than half a month")
    elif total.denominator != 1:
        return fail("not a whole number of months")
    else:
        months = int(total)
    if months > MAX_INTERVAL_MONTHS:
        return fail(f"interval over {MAX_INTERVAL_MONTHS} months")
    return Outcome(months)
