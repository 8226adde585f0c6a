"""Phones (E.164 for every format the export uses) and e-mails."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flitstack.settings import Settings
from flitstack.transform import Outcome, TransformContext, apply

US = TransformContext(settings=Settings(region="US"))


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("(512) 555-0123", "+15125550123"),
        ("512-555-0123", "+15125550123"),
        ("512.555.0123", "+15125550123"),
        ("+1 512 555 0123", "+15125550123"),
        ("5125550123", "+15125550123"),
        ("1 (512) 555-0123", "+15125550123"),
        ("(512) 555-0123 x12", "+15125550123;ext=12"),
        ("512-555-0123 ext. 7", "+15125550123;ext=7"),
    ],
)
def test_us_phones_in_every_export_format_become_e164(raw: str, want: str) -> None:
    out = apply("phone_e164", raw, US)
    assert out.ok and out.value == want


@given(
    area=st.integers(201, 989),
    mid=st.integers(200, 999),
    last=st.integers(0, 9999),
    form=st.sampled_from(
        ["({a}) {m}-{l}", "{a}-{m}-{l}", "{a}.{m}.{l}", "+1 {a} {m} {l}", "{a}{m}{l}"]
    ),
)
def test_generated_us_numbers_keep_their_digits(area: int, mid: int, last: int, form: str) -> None:
    raw = form.format(a=area, m=mid, l=f"{last:04d}")
    out = apply("phone_e164", raw, US)
    if out.ok:  # some area codes are not possible NANP numbers at all
        assert out.value == f"+1{area}{mid}{last:04d}"
    else:
        assert out.reason


def test_unknown_exchange_goes_in_flagged() -> None:
    out = apply("phone_e164", "(555) 123-4567 x12", US)
    assert out.ok and out.value == "+15551234567;ext=12" and "phone_unverified" in out.flags


def test_region_comes_from_settings() -> None:
    uk = TransformContext(settings=Settings(region="GB"))
    assert apply("phone_e164", "020 7946 0958", uk).value == "+442079460958"
    assert apply("phone_e164", "+44 20 7946 0958", US).value == "+442079460958"


@pytest.mark.parametrize("raw", ["call me", "123", "ask wife", "no phone", "555", "9" * 80])
def test_junk_phones_are_rejected_with_reason(raw: str) -> None:
    out = apply("phone_e164", raw, US)
    assert not out.ok and out.value is None and out.reason


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("  Jane.Doe@Mail.Example.COM ", "Jane.Doe@mail.example.com"),
        ("JANE.DOE12@MAIL.EXAMPLE.COM", "JANE.DOE12@mail.example.com"),
        ("jane+recall@example.com", "jane+recall@example.com"),
    ],
)
def test_emails_are_normalised(raw: str, want: str) -> None:
    assert apply("email", raw, US) == Outcome(want)


@pytest.mark.parametrize(
    "raw",
    ["Jane Doe@mail.example.com", "jane.mail.example.com", "jane@@example", "jane@", "@x.com"],
)
def test_invalid_emails_go_to_manual_review(raw: str) -> None:
    out = apply("email", raw, US)
    assert not out.ok and out.value is None
    assert out.flags == ("invalid_email_manual_review",)
    assert out.reason and raw.strip() not in out.reason


@given(st.emails())
def test_valid_emails_keep_their_local_part(address: str) -> None:
    out = apply("email", address, US)
    if out.ok:  # hypothesis may produce addresses the validator rejects (reserved names…)
        local, _, domain = address.rpartition("@")
        out_local, _, out_domain = out.value.rpartition("@")
        assert out_local == local and out_domain == out_domain.lower()
        if domain.isascii() and "xn--" not in domain.lower():  # IDNA domains come back decoded
            assert out_domain == domain.lower()
