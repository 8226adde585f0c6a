"""Free text, names, truncate and none."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flitstack.transform import TransformContext, apply
from flitstack.transform.text import clean

CTX = TransformContext()


def test_text_strips_collapses_and_keeps_paragraphs() -> None:
    assert apply("text", "  Main   St \t 5 ", CTX).value == "Main St 5"
    assert apply("text", "a\r\nb\r\n\r\n\r\n\r\nc", CTX).value == "a\nb\n\nc"
    assert apply("text", "bell\x07 and nul\x00", CTX).value == "bell and nul"


@given(st.text())
def test_clean_is_idempotent_and_has_no_outer_space(raw: str) -> None:
    once = clean(raw)
    assert clean(once) == once
    assert once == once.strip()
    assert "\r" not in once and "\n\n\n" not in once


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("SMITH", "Smith"),
        ("O'BRIEN", "O'Brien"),
        ("MCDONALD", "McDonald"),
        ("mary-jane", "Mary-Jane"),
        ("DE LA CRUZ III", "De La Cruz III"),
        ("  Anne   Marie ", "Anne Marie"),
        ("McAdams", "McAdams"),  # mixed case is the patient's own spelling: untouched
        ("van der Berg", "van der Berg"),
        ("J", "J"),
    ],
)
def test_names_are_tidied(raw: str, want: str) -> None:
    assert apply("name", raw, CTX).value == want


@given(st.text(alphabet=st.characters(categories=["Lu", "Ll", "Zs"]), min_size=1, max_size=30))
def test_names_keep_their_letters(raw: str) -> None:
    out = apply("name", raw, CTX)
    assert out.ok
    if out.value is not None:
        # dotless ı capitalises to I (as it should), which casefolds to i: compare without it
        def letters(text: str) -> str:
            return "".join(text.split()).casefold().replace("ı", "i")

        assert letters(out.value) == letters(raw)


def test_none_drops_anything() -> None:
    assert apply("none", "secret stuff", CTX).value is None
    assert apply("none", "secret stuff", CTX).ok
