"""Picklists: exact, alias, fuzzy (flagged) or rejected with the field's options."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flitstack.transform import TransformContext, apply

OPTIONS = ["Gold", "Silver", "No preference", "Completed", "Planned"]
CTX = TransformContext(options={"options": OPTIONS})


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("Gold", "Gold"),
        (" gold ", "Gold"),
        ("SILVER", "Silver"),
        ("no  preference", "No preference"),
        ("NoPreference", "No preference"),
        ("complete", "Completed"),  # a known MDC abbreviation
    ],
)
def test_exact_and_alias_matches(raw: str, want: str) -> None:
    out = apply("picklist", raw, CTX)
    assert out.ok and out.value == want and out.flags == ()


def test_close_spelling_matches_flagged() -> None:
    out = apply("picklist", "Silvr", CTX)
    assert out.ok and out.value == "Silver" and out.flags == ("fuzzy_option",)


@pytest.mark.parametrize("raw", ["Platinum", "Plan", "G", "xx"])
def test_no_match_is_rejected_listing_options(raw: str) -> None:
    out = apply("picklist", raw, CTX)
    assert not out.ok and out.value is None
    assert out.reason and out.reason.startswith("not one of the field's options: Gold")


def test_without_options_the_text_is_kept() -> None:
    assert apply("picklist", "  Anything  at all ", TransformContext()).value == "Anything at all"


@given(st.sampled_from(OPTIONS), st.sampled_from([str.upper, str.lower, str.title, str.strip]))
def test_every_option_matches_itself_in_any_case(option: str, case: object) -> None:
    assert callable(case)
    assert apply("picklist", f" {case(option)} ", CTX).value == option


@given(st.text(max_size=20))
def test_picklist_value_is_always_an_option(raw: str) -> None:
    out = apply("picklist", raw, CTX)
    assert out.value is None or out.value in OPTIONS
