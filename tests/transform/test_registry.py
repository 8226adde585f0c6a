"""The registry contract: every name exists, nothing raises, nulls are empty, limits cut."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flitstack.transform
from flitstack.settings import Settings, ToothNotation
from flitstack.transform import PIPEDRIVE_LIMITS, TRANSFORMS, Outcome, TransformContext, apply
from flitstack.transform.registry import OPTION_KEYS

REQUIRED = {
    *("text", "name", "phone_e164", "email", "date", "datetime", "due_datetime", "duration"),
    *("money", "money_value", "int", "number", "bool_yes_no", "tooth", "cdt", "cdt_list"),
    *("surfaces", "note_html", "picklist", "truncate", "none", "interval_months"),
}
NULL_SPELLINGS = ["", "   ", "NULL", "null", "N/A", "none", "\t\n"]

# Contexts that exercise option-dependent branches too.
CONTEXTS = [
    TransformContext(settings=Settings(timezone="America/Chicago")),
    TransformContext(
        settings=Settings(
            timezone="Europe/Berlin",
            region="DE",
            currency="EUR",
            source_tooth_notation=ToothNotation.FDI,
            target_tooth_notation=ToothNotation.PALMER,
        ),
        options={"options": ["Gold", "Silver"], "format": "html"},
        field_limit=20,
    ),
    TransformContext(options={"format": "rtf", "notation": "palmer"}, field_limit=0),
    TransformContext(options={"past_only": True}, reference_date=date(2026, 11, 25)),
    TransformContext(options={"past_only": "yes"}, reference_date=date(1, 1, 1)),
    TransformContext(options={"past_only": "true"}, reference_date=date(9999, 12, 31)),
    # settings reject an unknown zone; transforms must still cope with one built around them
    TransformContext(
        settings=Settings.model_construct(timezone="Not/AZone"), options={"notation": "bogus"}
    ),
]

# Text that looks like the values transforms expect, so fuzzing reaches past the first check.
plausible = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789-/: .,;#()$+xXDdAPMmUuRrLl", max_size=30),
    st.from_regex(r"\d{1,4}[-/]\d{1,2}[-/]\d{1,4}( \d{1,2}:\d{2}( ?[AP]M)?)?", fullmatch=True),
    st.from_regex(r"<[a-z]{1,6}( [a-z]{1,8}=['\"]?[^>]{0,10})?>[^<]{0,10}", fullmatch=True),
    st.from_regex(r"\{\\rtf1[^}]{0,30}\}", fullmatch=True),
    st.from_regex(
        r"[-+(]?[$€£]?\d{0,4}[.,]?\d{0,3} ?(h|hrs?|m|mins?|mos?|yrs?|wks?|USD|EUR)?-?",
        fullmatch=True,
    ),
    st.from_regex(r"\d{1,2}/\d{1,2}/\d{2}( \d{1,2}:\d{2})?", fullmatch=True),
)


def test_every_required_transform_is_registered() -> None:
    assert set(TRANSFORMS) >= REQUIRED


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted(TRANSFORMS)),
    raw=st.one_of(st.none(), plausible),
    ctx=st.sampled_from(CONTEXTS),
)
def test_no_text_crashes_any_transform(name: str, raw: str | None, ctx: TransformContext) -> None:
    out = apply(name, raw, ctx)
    assert isinstance(out, Outcome)
    assert isinstance(out.flags, tuple)
    if not out.ok:
        assert out.value is None and out.reason  # a failure always says why
    if ctx.field_limit is not None and isinstance(out.value, str):
        assert len(out.value) <= ctx.field_limit


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@pytest.mark.parametrize("raw", [None, *NULL_SPELLINGS])
def test_null_spellings_are_empty_and_ok(name: str, raw: str | None) -> None:
    assert apply(name, raw, TransformContext()) == Outcome(None, True)


def test_option_keys_list_every_option_a_transform_reads() -> None:
    package = Path(flitstack.transform.__file__).parent
    source = "".join(p.read_text(encoding="utf-8") for p in sorted(package.glob("*.py")))
    read = set(re.findall(r"ctx\.options\.get\(\"([a-z_]+)\"", source))
    assert read and read <= OPTION_KEYS
    assert "past_only" in read


def test_unknown_transform_fails_with_reason() -> None:
    out = apply("no_such_transform", "x", TransformContext())
    assert not out.ok and out.reason and "no_such_transform" in out.reason


def test_field_limit_cuts_any_string_value_and_flags_it() -> None:
    long = apply("text", "x" * 300, TransformContext(field_limit=PIPEDRIVE_LIMITS["varchar"]))
    assert long.value == "x" * 255 and "truncated" in long.flags and long.reason
    short = apply("text", "short", TransformContext(field_limit=255))
    assert short.value == "short" and short.flags == ()
    assert apply("truncate", "abcdef", TransformContext(field_limit=3)).value == "abc"
    # Non-string values (money dicts, numbers) are never cut.
    assert apply("number", "123456", TransformContext(field_limit=2)).value == 123456.0


def test_failure_reasons_never_carry_the_whole_raw_value() -> None:
    secret = "SSN 123-45-6789 please call my wife"
    for name in sorted(TRANSFORMS):
        out = apply(name, secret, TransformContext(options={"options": ["A"]}))
        assert secret not in (out.reason or ""), name


def test_pipedrive_limits_follow_the_documented_field_types() -> None:
    assert PIPEDRIVE_LIMITS["varchar"] == PIPEDRIVE_LIMITS["phone"] == 255
    assert PIPEDRIVE_LIMITS["text"] >= 65_000
    assert PIPEDRIVE_LIMITS["note"] == 100_000


def test_outcome_is_frozen() -> None:
    out = Outcome("x")
    with pytest.raises(AttributeError):
        out.value = "y"  # type: ignore[misc]
    assert Outcome("x", True, ("a", "b")).flag == "a" and Outcome().flag is None
