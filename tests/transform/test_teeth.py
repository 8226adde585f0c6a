"""Tooth notation: every permanent and primary tooth round-trips; ranges, lists, areas."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flitstack.settings import Settings, ToothNotation
from flitstack.transform import ToothError, TransformContext, apply, convert_tooth

U, F, P = ToothNotation.UNIVERSAL, ToothNotation.FDI, ToothNotation.PALMER
UNIVERSAL_TEETH = [str(n) for n in range(1, 33)] + [chr(c) for c in range(ord("A"), ord("U"))]
NOTATIONS = [U, F, P]


def test_there_are_52_universal_teeth() -> None:
    assert len(UNIVERSAL_TEETH) == 52
    fdi = {convert_tooth(t, U, F) for t in UNIVERSAL_TEETH}
    assert len(fdi) == 52  # the mapping is one-to-one


@given(st.sampled_from(UNIVERSAL_TEETH))
def test_universal_fdi_universal(tooth: str) -> None:
    assert convert_tooth(convert_tooth(tooth, U, F), F, U) == tooth


@given(st.sampled_from(UNIVERSAL_TEETH))
def test_universal_palmer_universal(tooth: str) -> None:
    assert convert_tooth(convert_tooth(tooth, U, P), P, U) == tooth


@pytest.mark.parametrize("tooth", UNIVERSAL_TEETH)
def test_every_tooth_through_all_notations(tooth: str) -> None:
    fdi = convert_tooth(tooth, U, F)
    palmer = convert_tooth(tooth, U, P)
    assert convert_tooth(fdi, F, P) == palmer
    assert convert_tooth(palmer, P, F) == fdi


@given(st.sampled_from(UNIVERSAL_TEETH), st.sampled_from(NOTATIONS), st.sampled_from(NOTATIONS))
def test_any_path_comes_back(tooth: str, a: ToothNotation, b: ToothNotation) -> None:
    there = convert_tooth(convert_tooth(tooth, U, a), a, b)
    assert convert_tooth(convert_tooth(there, b, a), a, U) == tooth


@pytest.mark.parametrize(
    ("text", "src", "dst", "want"),
    [
        ("1", U, F, "18"),
        ("8", U, F, "11"),
        ("9", U, F, "21"),
        ("16", U, F, "28"),
        ("17", U, F, "38"),
        ("32", U, F, "48"),
        ("#3", U, F, "16"),
        ("# 14", U, F, "26"),
        ("A", U, F, "55"),
        ("j", U, F, "65"),
        ("K", U, F, "75"),
        ("T", U, F, "85"),
        ("30", U, P, "LR6"),
        ("1", U, P, "UR8"),
        ("A", U, P, "URE"),
        ("UR8", P, U, "1"),
        ("8UR", P, U, "1"),
        ("ll3", P, F, "33"),
        ("2-5", U, F, "17-14"),
        ("#2-#5", U, P, "UR7-UR4"),
        ("3, 14", U, F, "16, 26"),
        ("UR", U, F, "UR"),
        ("LL", F, P, "LL"),
        ("U", U, F, "U"),
        ("LA", U, P, "LA"),
    ],
)
def test_tooth_examples(text: str, src: ToothNotation, dst: ToothNotation, want: str) -> None:
    assert convert_tooth(text, src, dst) == want


@pytest.mark.parametrize(
    ("text", "src"),
    [
        *[("33", U), ("0", U), ("U1", U), ("19", F), ("50", F), ("UR9", P), ("UR0", P)],
        *[("3-", U), ("2-3-4", U), ("1,,2", U), ("³", U), ("٣", U), ("18", P), ("x" * 300, U)],
    ],
)
def test_bad_teeth_raise_tooth_error(text: str, src: ToothNotation) -> None:
    with pytest.raises(ToothError):
        convert_tooth(text, src, F)


def test_tooth_transform_uses_settings_and_options() -> None:
    to_fdi = TransformContext(settings=Settings(target_tooth_notation=F))
    assert apply("tooth", "14", to_fdi).value == "26"
    out = apply("tooth", "Z9", to_fdi)
    assert not out.ok and out.reason
    palmer_source = TransformContext(options={"notation": "palmer"})
    assert apply("tooth", "UL1", palmer_source).value == "9"
    bad_option = apply("tooth", "3", TransformContext(options={"notation": "klingon"}))
    assert not bad_option.ok and "notation" in (bad_option.reason or "")
