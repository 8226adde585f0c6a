"""Values for Pipedrive option fields: yes/no flags and picklists."""

from __future__ import annotations

from rapidfuzz import fuzz, process, utils

from flitstack.source.values import is_null, parse_enum, parse_yes_no
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail

YES, NO = "Yes", "No"
FUZZY_CUTOFF = 90
_MAX_LISTED = 10


def bool_yes_no(raw: str | None, ctx: TransformContext) -> Outcome:
    """Y/N, yes/no, true/false, 1/0 → the option labels ``Yes`` / ``No``."""
    if is_null(raw):
        return EMPTY
    parsed = parse_yes_no(raw)
    if parsed.problem:
        return fail("not a yes/no value (Y, N, yes, no, true, false, 1, 0)")
    return Outcome(YES if parsed.value else NO)


def _key(text: str) -> str:
    return "".join(text.split()).casefold()


def _listing(options: list[str]) -> str:
    shown = ", ".join(options[:_MAX_LISTED])
    return shown + (f" … ({len(options)} in all)" if len(options) > _MAX_LISTED else "")


def picklist(raw: str | None, ctx: TransformContext) -> Outcome:
    """A value → one of ``ctx.options["options"]``: exact in any case/spacing, a known alias
    (``Complete`` → ``Completed``), or a close spelling (similarity ≥ 90, flagged).

    Without options there is nothing to check against and the tidied text is kept.
    """
    if is_null(raw):
        return EMPTY
    assert raw is not None
    options = [str(o) for o in ctx.options.get("options") or [] if str(o).strip()]
    value = " ".join(raw.split())
    if not options:
        return Outcome(value)
    key = _key(value)
    for option in options:
        if _key(option) == key:
            return Outcome(option)
    alias = parse_enum(value, options)
    if alias.problem is None:
        return Outcome(alias.value)
    best = process.extractOne(
        value,
        options,
        scorer=fuzz.ratio,
        processor=utils.default_process,
        score_cutoff=FUZZY_CUTOFF,
    )
    if best is not None:
        return Outcome(best[0], True, ("fuzzy_option",), f"matched to the option {best[0]!r}")
    return fail(f"not one of the field's options: {_listing(options)}")
