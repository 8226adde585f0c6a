"""Note bodies from plain text, HTML or RTF to HTML that is safe in a Pipedrive note.

Only an allow-list of formatting tags survives; scripts, styles, event handlers and
non-http(s)/mailto links are removed, and all text is escaped.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from striprtf.striprtf import rtf_to_text

ALLOWED_TAGS = frozenset(
    {"p", "br", "b", "strong", "i", "em", "u", "ul", "ol", "li", "a", "h1", "h2", "h3",
     "blockquote", "pre", "code", "table", "thead", "tbody", "tr", "th", "td"}
)  # fmt: skip
_VOID = frozenset({"br"})
_DROP_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "head"})
_SAFE_HREF = re.compile(r"^(https?:|mailto:)", re.IGNORECASE)


class _Sanitiser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_CONTENT:
            self.skipping += 1
            return
        if self.skipping or tag not in ALLOWED_TAGS:
            return
        if tag == "a":
            href = dict(attrs).get("href") or ""
            href = "".join(href.split())
            if _SAFE_HREF.match(href):
                self.out.append(f'<a href="{html.escape(href, quote=True)}">')
            else:
                self.out.append("<a>")
        else:
            self.out.append(f"<{tag}>")
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_CONTENT:
            self.skipping = max(0, self.skipping - 1)
            return
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


def sanitise_html(text: str) -> str:
    parser = _Sanitiser()
    parser.feed(text)
    parser.close()
    return parser.result()


def plain_to_html(text: str) -> str:
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip())
    return "".join(
        "<p>" + "<br>".join(html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p.strip()
    )


def sniff_format(text: str) -> str:
    t = text.lstrip()
    if t.startswith("{\\rtf"):
        return "rtf"
    if re.search(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>", t):
        return "html"
    return "plain"


def note_to_html(text: str, fmt: str | None = None) -> str:
    """Any note body → safe HTML; ``fmt`` is plain, html or rtf (sniffed when not given)."""
    fmt = (fmt or "").strip().lower() or sniff_format(text)
    if fmt == "rtf":
        return plain_to_html(rtf_to_text(text, errors="ignore"))
    if fmt == "html":
        return sanitise_html(text)
    return plain_to_html(text)
