"""CDT procedure codes, code lists and tooth surfaces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flitstack.transform import TransformContext, apply

CTX = TransformContext()
codes = st.integers(0, 9999).map(lambda n: f"D{n:04d}")


@pytest.mark.parametrize(
    ("raw", "want"), [("D2740", "D2740"), ("d2740 ", "D2740"), (" D 0120", "D0120")]
)
def test_cdt_normalised(raw: str, want: str) -> None:
    assert apply("cdt", raw, CTX).value == want


@pytest.mark.parametrize("raw", ["2740", "D274", "D27400", "X2740", "D27A0", "D２７４０"])
def test_bad_cdt(raw: str) -> None:
    out = apply("cdt", raw, CTX)
    assert not out.ok and out.reason


@given(codes, st.sampled_from(["{}", "{} ", " {}", "{}".lower()]), st.booleans())
def test_every_cdt_code_is_accepted(code: str, form: str, lower: bool) -> None:
    raw = form.format(code.lower() if lower else code)
    assert apply("cdt", raw, CTX).value == code


def test_cdt_lists() -> None:
    assert apply("cdt_list", "D0120;d1110", CTX).value == "D0120; D1110"
    assert apply("cdt_list", "D0120, D1110 ;D0274", CTX).value == "D0120; D1110; D0274"
    assert apply("cdt_list", "D0120;D0120", CTX).value == "D0120"
    mixed = apply("cdt_list", "D0120;bogus;d1110", CTX)
    assert mixed.ok and mixed.value == "D0120; D1110"
    assert mixed.flags == ("some_codes_invalid",) and "bogus" in (mixed.reason or "")
    none_valid = apply("cdt_list", "foo;bar", CTX)
    assert not none_valid.ok and none_valid.value is None and "foo" in (none_valid.reason or "")


@given(st.lists(codes, min_size=1, max_size=8, unique=True), st.sampled_from([";", ",", "; "]))
def test_cdt_lists_round_trip(items: list[str], sep: str) -> None:
    assert apply("cdt_list", sep.join(items), CTX).value == "; ".join(items)


@pytest.mark.parametrize(
    ("raw", "want"),
    [("MOD", "MOD"), ("dom", "MOD"), ("O", "O"), ("M,O,D", "MOD"), ("ibl", "BLI"), ("MMO", "MO")],
)
def test_surfaces(raw: str, want: str) -> None:
    assert apply("surfaces", raw, CTX).value == want


@pytest.mark.parametrize("raw", ["MX", "1", "-", "ı", "Ｍ"])
def test_bad_surfaces(raw: str) -> None:
    out = apply("surfaces", raw, CTX)
    assert not out.ok and out.reason


@given(st.text(alphabet="MODBLFImodblfi", min_size=1, max_size=10))
def test_surfaces_are_in_chart_order_and_distinct(raw: str) -> None:
    value = apply("surfaces", raw, CTX).value
    assert set(value) == set(raw.upper())
    assert list(value) == sorted(value, key="MODBLFI".index)
