"""Transforms: examples, round trips, and fuzzing (no text may crash a transform)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flitstack.settings import Settings, ToothNotation
from flitstack.transform import TRANSFORMS, Outcome, TransformContext, apply, convert_tooth
from flitstack.transform.teeth import ALL_FDI, ToothError, from_fdi

CTX = TransformContext(settings=Settings(timezone="America/Chicago", region="US"))
U, F, P = ToothNotation.UNIVERSAL, ToothNotation.FDI, ToothNotation.PALMER


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(TRANSFORMS)), raw=st.one_of(st.none(), st.text(max_size=80)))
def test_no_text_crashes_any_transform(name: str, raw: str | None) -> None:
    out = apply(name, raw, CTX)
    assert isinstance(out, Outcome)
    assert out.ok or out.reason  # a failure always says why


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("(512) 555-0123", "+15125550123"),
        ("512.555.0123", "+15125550123"),
        ("+1 512 555 0123", "+15125550123"),
        ("512-555-0123 x12", "+15125550123;ext=12"),
        ("5125550123", "+15125550123"),
    ],
)
def test_phones_become_e164(raw: str, want: str) -> None:
    assert apply("phone_e164", raw, CTX).value == want


@pytest.mark.parametrize("raw", ["call me", "123", "ask wife", "555"])
def test_junk_phones_are_rejected_with_reason(raw: str) -> None:
    out = apply("phone_e164", raw, CTX)
    assert not out.ok and out.value is None and out.reason


def test_emails_normalised_or_sent_to_review() -> None:
    assert apply("email", "  Jane.Doe@Mail.Example.COM ", CTX).value == "Jane.Doe@mail.example.com"
    bad = apply("email", "jane@@example", CTX)
    assert not bad.ok and "manual_review" in bad.flags and bad.value is None
    assert apply("email", "NULL", CTX) == Outcome()


def test_datetimes_use_the_practice_zone_across_dst() -> None:
    assert apply("datetime", "2024-01-15 09:00", CTX).value == "2024-01-15 15:00:00"  # CST
    assert apply("datetime", "07/15/2024 9:00 AM", CTX).value == "2024-07-15 14:00:00"  # CDT
    assert apply("datetime", "2024-07-15T09:00:00+00:00", CTX).value == "2024-07-15 09:00:00"
    assert apply("due_datetime", "3/5/24 2:30 PM", CTX).value == {
        "due_date": "2024-03-05",
        "due_time": "20:30",
    }
    assert apply("date", "0000-00-00", CTX).value is None
    assert apply("date", "3/5/24", CTX).value == "2024-03-05"


@pytest.mark.parametrize(
    ("raw", "want"),
    [("$1,234.50", 1234.5), ("(12.00)", -12.0), ("-12", -12.0), ("1234.5", 1234.5)],
)
def test_money_forms(raw: str, want: float) -> None:
    assert apply("money", raw, CTX).value == {"value": want, "currency": "USD"}


@given(st.sampled_from(ALL_FDI), st.sampled_from([F, P]))
def test_every_tooth_round_trips_through_other_notations(code: int, other: ToothNotation) -> None:
    universal = from_fdi(code, U)
    assert convert_tooth(convert_tooth(universal, U, other), other, U) == universal


def test_tooth_examples() -> None:
    assert convert_tooth("#3", U, F) == "16"
    assert convert_tooth("A", U, F) == "55"
    assert convert_tooth("2-5", U, F) == "17-14"
    assert convert_tooth("30", U, P) == "LR6"
    assert convert_tooth("UR", U, F) == "UR"
    with pytest.raises(ToothError):
        convert_tooth("33", U, F)
    ctx = TransformContext(settings=Settings(target_tooth_notation=F))
    assert apply("tooth", "14", ctx).value == "26"
    assert not apply("tooth", "Z9", ctx).ok


def test_cdt_and_surfaces() -> None:
    assert apply("cdt", " d2740 ", CTX).value == "D2740"
    assert not apply("cdt", "2740", CTX).ok
    mixed = apply("cdt_list", "D0120;bogus;d1110", CTX)
    assert mixed.value == "D0120; D1110" and "some_codes_invalid" in mixed.flags
    assert apply("surfaces", "dom", CTX).value == "MOD"
    assert not apply("surfaces", "MX", CTX).ok


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<script>alert(1)</script>",
                "<img src=x onerror=alert(1)>",
                "<a href='javascript:x'>",
                "<b>",
                "</b>",
                "text & more",
                "<p onclick='x'>",
                "<style>b{}</style>",
                "<",
                ">",
                "<a href=' java script:x'>",
                "<iframe src=x></iframe>",
                '"',
                "\n",
            ]
        ),
        max_size=12,
    )
)
def test_note_html_is_always_safe(parts: list[str]) -> None:
    ctx = TransformContext(options={"format": "html"})
    html = apply("note_html", "".join(parts), ctx).value or ""
    low = html.lower()
    assert "<script" not in low and "onerror" not in low and "onclick" not in low
    assert "javascript:" not in low.replace(" ", "") and "<iframe" not in low


def test_notes_from_each_format() -> None:
    assert apply("note_html", "a < b\nline 2", CTX).value == "<p>a &lt; b<br>line 2</p>"
    rtf = r"{\rtf1\ansi {\b Crown} seated}"
    assert "Crown seated" in apply("note_html", rtf, CTX).value
    kept = apply("note_html", "<p>Hi <b>there</b><script>x()</script></p>", CTX).value
    assert kept == "<p>Hi <b>there</b></p>"


def test_picklist_and_truncation() -> None:
    ctx = TransformContext(options={"options": ["Gold", "Silver", "No preference"]})
    assert apply("picklist", " gold ", ctx).value == "Gold"
    assert apply("picklist", "no  preference", ctx).value == "No preference"
    assert not apply("picklist", "Platinum", ctx).ok
    long = apply("text", "x" * 300, TransformContext(field_limit=255))
    assert len(long.value) == 255 and "truncated" in long.flags
