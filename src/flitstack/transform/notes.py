"""Note bodies from plain text, HTML or RTF to HTML that is safe in a Pipedrive note.

Only an allow-list of formatting tags survives; scripts, styles, event handlers and
non-http(s)/mailto links are removed, and all text is escaped.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from striprtf.striprtf import rtf_to_text

from flitstack.source.values import is_null
from flitstack.transform.outcome import EMPTY, Outcome, TransformContext, fail

ALLOWED_TAGS = frozenset(
    {"p", "br", "b", "strong", "i", "em", "u", "ul", "ol", "li", "a", "h1", "h2", "h3",
     "blockquote", "pre", "code", "table", "thead", "tbody", "tr", "th", "td"}
)  # fmt: skip
_VOID = frozenset({"br"})
# Opening one of these while the same tag is innermost closes it first (<li>a<li>b).
_SELF_CLOSING_SIBLINGS = frozenset({"li", "p", "tr", "td", "th"})
# Script URL schemes; even as text their colon is written as an entity (reads the same).
_SCRIPT_SCHEME = re.compile(r"(?i)(java|vb)script(\s*):")
# Tags whose content is code or metadata, never note text: dropped with everything inside.
_DROP_CONTENT = frozenset({"script", "style", "template", "title", "xml", "noembed", "noframes"})
# Tags that make sniffed text HTML (a bare "<no>" in a plain note must stay text).
_KNOWN_TAGS = ALLOWED_TAGS | _DROP_CONTENT | frozenset(
    {"html", "head", "body", "div", "span", "font", "img", "hr", "center", "small", "big", "sub",
     "sup", "s", "strike", "del", "ins", "iframe", "object", "embed", "meta", "link", "form",
     "input", "button", "svg", "h4", "h5", "h6", "dl", "dt", "dd", "caption", "col", "tfoot"}
)  # fmt: skip
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>")
# Block tags outside the allow-list keep their line structure as the nearest allowed tag.
_RENAMED = {"div": "p", "section": "p", "article": "p", "h4": "h3", "h5": "h3", "h6": "h3",
            "hr": "br", "tfoot": "tbody", "dt": "b", "dd": "blockquote"}  # fmt: skip
_SAFE_HREF = re.compile(r"^(https?:|mailto:)", re.IGNORECASE)


class _Sanitiser(HTMLParser):
    """Re-emits only allow-listed tags, without attributes (except a safe ``a href``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_CONTENT:
            self.skipping += 1
            return
        if self.skipping:
            return
        tag = _RENAMED.get(tag, tag)
        if tag not in ALLOWED_TAGS:
            return
        if tag in _SELF_CLOSING_SIBLINGS and self.open and self.open[-1] == tag:
            self.out.append(f"</{self.open.pop()}>")
        if tag == "a":
            self.out.append(_anchor(dict(attrs).get("href")))
        else:
            self.out.append(f"<{tag}>")
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_CONTENT:
            self.skipping = max(0, self.skipping - 1)
            return
        tag = _RENAMED.get(tag, tag)
        if self.skipping or tag not in self.open:
            return
        while self.open:
            top = self.open.pop()
            self.out.append(f"</{top}>")
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        while self.open:
            self.out.append(f"</{self.open.pop()}>")
        return "".join(self.out)


def _anchor(href: str | None) -> str:
    """``<a href>`` for http(s)/mailto links only; any other link keeps its text, not its target."""
    target = "".join((href or "").split())  # browsers ignore whitespace inside "java script:"
    if _SAFE_HREF.match(target):
        return f'<a href="{html.escape(target, quote=True)}">'
    return "<a>"


def sanitise_html(text: str) -> str:
    """HTML → the allow-listed subset; text is re-escaped, so nothing executable survives."""
    parser = _Sanitiser()
    parser.feed(text)
    parser.close()
    return parser.result()


def plain_to_html(text: str) -> str:
    """Plain text → escaped HTML: blank lines make paragraphs, single newlines ``<br>``."""
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip())
    return "".join(
        "<p>" + "<br>".join(html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p.strip()
    )


FORMATS = ("plain", "html", "rtf")


def sniff_format(text: str) -> str:
    """``rtf`` for an RTF header, ``html`` when real HTML tags occur, else ``plain``."""
    t = text.lstrip()
    if t.startswith("{\\rtf"):
        return "rtf"
    if any(m.group(1).lower() in _KNOWN_TAGS for m in _TAG.finditer(t)):
        return "html"
    return "plain"


def note_to_html(text: str, fmt: str | None = None) -> str:
    """Any note body → safe HTML; ``fmt`` is plain, html or rtf (sniffed when not given)."""
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS or (fmt == "rtf" and not text.lstrip().startswith("{\\rtf")):
        fmt = sniff_format(text)
    if fmt == "rtf":
        body = plain_to_html(rtf_to_text(text, errors="ignore"))
    elif fmt == "html":
        body = sanitise_html(text)
    else:
        body = plain_to_html(text)
    # Even as harmless text, "javascript:" trips naive filters downstream: write its colon as an
    # entity, which reads the same.
    return _SCRIPT_SCHEME.sub(lambda m: f"{m[1]}script{m[2]}&#58;", body)


def note_html(raw: str | None, ctx: TransformContext) -> Outcome:
    """A note body (format from the map's ``format`` option, the row, or sniffed) → safe HTML."""
    if is_null(raw):
        return EMPTY
    assert raw is not None
    fmt = ctx.options.get("format")
    try:
        body = note_to_html(raw, str(fmt) if fmt else None)
    except Exception as exc:  # a malformed RTF/HTML body must not stop the run
        return fail(f"note could not be converted ({type(exc).__name__})")
    return Outcome(body or None)
