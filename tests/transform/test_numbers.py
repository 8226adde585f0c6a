"""Money, whole numbers, decimals and yes/no flags."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flitstack.settings import Settings
from flitstack.transform import TransformContext, apply

CTX = TransformContext()


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("$1,234.50", 1234.5),
        ("(12.00)", -12.0),
        ("-12", -12.0),
        ("1234.5", 1234.5),
        ("$0.99", 0.99),
        ("(1,234.50)", -1234.5),
        ("  45 ", 45.0),
        ("12.345", 12.34),  # banker's rounding to cents, as Decimal.quantize does
    ],
)
def test_money_forms(raw: str, want: float) -> None:
    assert apply("money", raw, CTX).value == {"value": want, "currency": "USD"}
    assert apply("money_value", raw, CTX).value == want


def test_money_currency_comes_from_settings() -> None:
    eur = TransformContext(settings=Settings(currency="EUR"))
    assert apply("money", "10", eur).value == {"value": 10.0, "currency": "EUR"}


@pytest.mark.parametrize("raw", ["twelve", "$", "1.2.3", "12$34", "1e5", "9" * 50, "--5"])
def test_bad_money_fails(raw: str) -> None:
    out = apply("money", raw, CTX)
    assert not out.ok and out.reason


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2))
def test_money_round_trips_every_export_form(amount: Decimal) -> None:
    plain = f"{amount:.2f}"
    grouped = f"${abs(amount):,.2f}"
    accounting = f"({grouped})" if amount < 0 else grouped
    for raw in (plain, accounting):
        assert apply("money_value", raw, CTX).value == float(amount)


@pytest.mark.parametrize(
    ("raw", "want"), [("12", 12), ("1,200", 1200), ("12.0", 12), ("-3", -3), ("+7", 7)]
)
def test_ints(raw: str, want: int) -> None:
    assert apply("int", raw, CTX).value == want


@pytest.mark.parametrize("raw", ["12.5", "1e999999999", "twelve", "9" * 30, "٣"])
def test_bad_ints(raw: str) -> None:
    out = apply("int", raw, CTX)
    assert not out.ok and out.reason


@given(st.integers(-(10**14), 10**14))
def test_int_round_trips(n: int) -> None:
    assert apply("int", str(n), CTX).value == n
    assert apply("int", f"{n:,}", CTX).value == n


@pytest.mark.parametrize(("raw", "want"), [("12.5", 12.5), ("1,234.56", 1234.56), (".5", 0.5)])
def test_numbers(raw: str, want: float) -> None:
    assert apply("number", raw, CTX).value == want


@pytest.mark.parametrize("raw", ["nan", "inf", "1e400", "1/2", "abc"])
def test_bad_numbers(raw: str) -> None:
    assert not apply("number", raw, CTX).ok


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_number_round_trips(x: float) -> None:
    assert apply("number", f"{x:.6f}", CTX).value == pytest.approx(x, abs=1e-6)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        *[("Y", "Yes"), ("n", "No"), ("yes", "Yes"), ("NO", "No"), ("true", "Yes")],
        *[("False", "No"), ("1", "Yes"), ("0", "No"), (" y ", "Yes")],
    ],
)
def test_yes_no(raw: str, want: str) -> None:
    assert apply("bool_yes_no", raw, CTX).value == want


def test_bad_yes_no() -> None:
    out = apply("bool_yes_no", "maybe", CTX)
    assert not out.ok and out.reason
