"""Note bodies: plain, HTML and RTF become HTML that is safe to show in Pipedrive."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flitstack.transform import TransformContext, apply, sanitise_html
from flitstack.transform.notes import ALLOWED_TAGS, sniff_format

HTML = TransformContext(options={"format": "html"})
SNIFF = TransformContext()


class _Audit(HTMLParser):
    """Collects what a browser would see: tags and attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def assert_safe(html: str) -> None:
    audit = _Audit()
    audit.feed(html)
    audit.close()
    assert set(audit.tags) <= ALLOWED_TAGS
    for attr, value in audit.attrs:
        assert attr == "href", attr
        target = "".join((value or "").split()).lower()
        assert target.startswith(("http:", "https:", "mailto:")), target
    low = html.lower()
    assert "<script" not in low and "<style" not in low and "<iframe" not in low
    assert "javascript:" not in low.replace(" ", "")


PIECES = [
    "<script>alert(1)</script>",
    "<script src=x>",
    "</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<a href='javascript:x'>",
    "<a href=' java\tscript:x'>",
    "<a href='JaVaScRiPt&#58;x'>",
    '<a href="https://ok.example/?a=1&b=2" onclick="x">',
    "<a href=mailto:a@b.c>",
    "</a>",
    "<b>",
    "</b>",
    "<p onclick='x'>",
    "<div style='background:url(javascript:x)'>",
    "<style>b{}</style>",
    "<iframe src=x></iframe>",
    "<!-- <script>x</script> -->",
    "<![CDATA[<script>]]>",
    "<scr<script>ipt>",
    "text & more",
    "<",
    ">",
    '"',
    "'",
    "=",
    "\n",
    "on",
    "error",
    "javascript:",
    "JavaScript :",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=14))
def test_note_html_is_always_safe(parts: list[str]) -> None:
    raw = "".join(parts)
    out = apply("note_html", raw, HTML)
    assert out.ok
    assert_safe(out.value or "")
    sniffed = apply("note_html", raw, SNIFF)
    assert_safe(sniffed.value or "")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_plain_text_keeps_every_character_escaped(raw: str) -> None:
    out = apply("note_html", raw, TransformContext(options={"format": "plain"}))
    assert_safe(out.value or "")
    assert "<script" not in (out.value or "").lower()


def test_plain_text_becomes_paragraphs() -> None:
    assert apply("note_html", "a < b\nline 2", SNIFF).value == "<p>a &lt; b<br>line 2</p>"
    assert apply("note_html", "one\n\ntwo", SNIFF).value == "<p>one</p><p>two</p>"
    assert apply("note_html", "pt said <no> to x-ray", SNIFF).value == (
        "<p>pt said &lt;no&gt; to x-ray</p>"
    )


def test_html_keeps_formatting_and_drops_the_rest() -> None:
    kept = apply("note_html", "<p>Hi <b>there</b><script>x()</script></p>", SNIFF).value
    assert kept == "<p>Hi <b>there</b></p>"
    linked = sanitise_html('<a href="https://x.example/a?b=1&c=2" onclick="x">site</a>')
    assert linked == '<a href="https://x.example/a?b=1&amp;c=2">site</a>'
    assert sanitise_html("<a href='javascript:alert(1)'>bad</a>") == "<a>bad</a>"
    assert sanitise_html("<div>a</div><div>b</div>") == "<p>a</p><p>b</p>"
    assert sanitise_html("<ul><li>one<li>two</ul>") == "<ul><li>one</li><li>two</li></ul>"
    assert sanitise_html("<b>unclosed") == "<b>unclosed</b>"
    assert sanitise_html("5 &lt; 6 &amp; 7") == "5 &lt; 6 &amp; 7"


def test_script_schemes_never_appear_even_as_text() -> None:
    out = apply("note_html", "type javascript:void(0) in the bar", SNIFF).value
    assert out == "<p>type javascript&#58;void(0) in the bar</p>"


def test_rtf_becomes_text_then_html() -> None:
    rtf = r"{\rtf1\ansi\deff0 {\fonttbl{\f0 Arial;}} \b Crown\b0  seated\par Next <visit>}"
    assert apply("note_html", rtf, SNIFF).value == "<p>Crown seated<br>Next &lt;visit&gt;</p>"
    forced = apply("note_html", rtf, TransformContext(options={"format": "RTF"}))
    assert forced.value == apply("note_html", rtf, SNIFF).value


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (r"{\rtf1 x}", "rtf"),
        ("<p>x</p>", "html"),
        ("a <b>bold</b> word", "html"),
        ("BP <120/80>", "plain"),
        ("said <no>", "plain"),
        ("just text", "plain"),
    ],
)
def test_format_sniffing(text: str, want: str) -> None:
    assert sniff_format(text) == want


def test_very_long_note_is_converted_whole() -> None:
    body = "line\n" * 50_000
    out = apply("note_html", body, SNIFF)
    assert out.ok and out.value.count("<br>") == 49_999
