"""Money in the dialects exports use: symbols, codes, separators, accounting negatives."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flitstack.settings import Settings
from flitstack.transform import TransformContext, apply

USD = TransformContext()
EUR = TransformContext(settings=Settings(currency="EUR"))


@pytest.mark.parametrize(
    ("raw", "want", "currency"),
    [
        *[("$1,234.50", 1234.5, "USD"), ("€12.50", 12.5, "EUR"), ("£12", 12.0, "GBP")],
        *[("(45.00)", -45.0, "USD"), ("45.00-", -45.0, "USD"), ("($45.00)", -45.0, "USD")],
        *[("USD 12.50", 12.5, "USD"), ("12.50 USD", 12.5, "USD"), ("usd12.50", 12.5, "USD")],
        *[("-$45", -45.0, "USD"), ("$-45", -45.0, "USD"), ("$ 1 234.50", 1234.5, "USD")],
        *[("€1.234,50", 1234.5, "EUR"), ("1 234,50 €", 1234.5, "EUR"), ("EUR 12,5", 12.5, "EUR")],
        *[("1,234,567.89", 1234567.89, "USD"), ("1.234.567", 1234567.0, "USD")],
        *[("1'234.50", 1234.5, "USD"), ("1\u00a0234,50", 1234.5, "USD"), ("+5", 5.0, "USD")],
        *[("12,50", 12.5, "USD"), ("1,234", 1234.0, "USD"), ("45.", 45.0, "USD")],
        *[("USD (12.50)", -12.5, "USD"), ("$45.00-", -45.0, "USD"), ("GBP 3", 3.0, "GBP")],
    ],
)
def test_money_dialects(raw: str, want: float, currency: str) -> None:
    out = apply("money", raw, USD)
    assert out.ok and out.value == {"value": want, "currency": currency}
    assert apply("money_value", raw, USD).value == want


def test_a_named_other_currency_is_flagged_for_plain_values() -> None:
    out = apply("money_value", "€12.50", USD)
    assert out.ok and out.value == 12.5 and out.flags == ("other_currency",)
    assert out.reason == "amount in EUR, not USD"
    assert apply("money_value", "€12.50", EUR).flags == ()
    assert apply("money_value", "$12.50", EUR).flags == ()  # "$" names no single currency
    assert apply("money", "$12.50", EUR).value == {"value": 12.5, "currency": "EUR"}
    assert apply("money", "12.50", TransformContext(options={"currency": "cad"})).value == {
        "value": 12.5,
        "currency": "CAD",
    }
    # the settings' currency is read as a code even when it is not a common one
    isk = TransformContext(settings=Settings(currency="ISK"))
    assert apply("money", "ISK 1.500", isk).value == {"value": 1.5, "currency": "ISK"}


@pytest.mark.parametrize(
    "raw",
    [
        *["--5", "(-5)", "-5-", "(45.00)-", "$$5", "€12 USD", "USD EUR 5", "12$34", "1e5"],
        *["1.2.3", "1,23,456", "1,2345.00", "1.234,567,8", "$", "()", "abc 12", "XYZ 5"],
        *["12 34", "1 2", "٣", "1,234.5.6", ".", "-", "five dollars"],
    ],
)
def test_money_junk_fails_with_reason(raw: str) -> None:
    for name in ("money", "money_value"):
        out = apply(name, raw, USD)
        assert not out.ok and out.value is None and out.reason, (name, raw)


amounts = st.decimals(min_value=-(10**9), max_value=10**9, places=2)


@given(
    amount=amounts,
    symbol=st.sampled_from(["", "$", "USD ", " USD", "usd"]),
    negative=st.sampled_from(["-lead", "-trail", "parens", "-after-symbol"]),
    grouping=st.sampled_from(["", ",", " ", "'"]),
)
def test_money_round_trips_every_dialect(
    amount: Decimal, symbol: str, negative: str, grouping: str
) -> None:
    digits = f"{abs(amount):,.2f}".replace(",", grouping)
    body = f"{symbol}{digits}" if not symbol.startswith(" ") else f"{digits}{symbol}"
    if amount < 0:
        if negative == "-lead":
            body = f"-{body}"
        elif negative == "-trail":
            body = f"{body}-"
        elif negative == "parens":
            body = f"({body})"
        elif symbol.strip() and not symbol.startswith(" "):
            body = f"{symbol}-{digits}"
        else:
            body = f"-{body}"
    out = apply("money", body, USD)
    assert out.ok and out.value == {"value": float(amount), "currency": "USD"}, body


@given(amount=amounts, symbol=st.sampled_from(["€", "EUR "]))
def test_european_notation_round_trips(amount: Decimal, symbol: str) -> None:
    grouped = f"{abs(amount):,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    raw = f"{'-' if amount < 0 else ''}{symbol}{grouped}"
    assert apply("money", raw, EUR).value == {"value": float(amount), "currency": "EUR"}


@given(st.text(max_size=30))
def test_any_text_is_money_or_a_reason(raw: str) -> None:
    for name in ("money", "money_value"):
        out = apply(name, raw, USD)
        assert out.ok or (out.reason and out.value is None)
