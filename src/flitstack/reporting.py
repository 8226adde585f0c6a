"""Writing reports safely: owner-only files, autoescaped HTML templates, CSV and JSON.

Reports hold patient data, so every file is created 0600 inside 0700 folders, every value
shown in HTML goes through jinja2's autoescape, and every CSV cell goes through
:func:`safe_cell`, so a spreadsheet never runs a value as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from flitstack import __version__

# --- plain-language labels ---------------------------------------------------------------------

#: Every code an issue can carry, in the words a practice manager reads: the reader's value
#: problems (``source/reader.py``), the transforms' flags (``transform/*.py``) and the kinds of
#: flagged reasons the engine writes in sentences (see :func:`reason_kind`). Reports show these,
#: never the codes.
ISSUE_LABELS: dict[str, str] = {
    # values the reader could not parse (the audit's "problems")
    "bad_date": "Not a date",
    "bad_datetime": "Not a date and time",
    "bad_money": "Not an amount of money",
    "bad_int": "Not a whole number",
    "bad_yes_no": "Not a yes/no answer",
    "bad_enum": "Not one of the known values",
    "junk_phone": "Not a phone number",
    "decimal_id": "ID written as a decimal (1001.0), read as the whole number",
    "excel_text": 'Value kept as text by Excel (="00123"), read as the text it holds',
    "invalid_email": "Not a valid e-mail address",
    "invalid_tooth": "Not a tooth, range, quadrant or arch",
    "bad_cdt": "Not a procedure code (D and four digits)",
    "bad_surfaces": "Tooth surfaces not written with the letters M, O, D, B, L, F, I",
    "control_characters": "Hidden control characters (removed)",
    # values that went in, marked for a look (transform flags)
    "phone_unverified": "Phone number not recognised (kept as written)",
    "truncated": "Text cut to fit the Pipedrive field",
    "fuzzy_option": "Matched to the closest option of a picklist",
    "other_currency": "Amount in another currency than the practice's",
    "some_codes_invalid": "Some procedure codes were not valid (left out)",
    "dst_gap": "Time skipped by a daylight-saving change",
    "dst_ambiguous": "Time that happens twice at a daylight-saving change",
    "invalid_email_manual_review": "Invalid e-mail address (left out, to review by hand)",
    # flagged reasons written as sentences, by kind
    "no_valid_email": "Patient without a valid e-mail (e-mail left empty)",
    "consent_without_email": "Marketing consent without a valid e-mail (set to no consent)",
    "consent_not_subscribed": (
        "Marketing consent of a deleted, deceased or archived patient (set to no consent)"
    ),
    "note_over_limit": "Note longer than Pipedrive allows (attached in full as a file)",
    "property_undefined": "Practice-defined property without a definition (not migrated)",
    "bad_number": "Not a number",
    "bad_duration": "Not a duration",
    "bad_interval": "Not a recall interval",
    "implausible_time": "Date or time that cannot be right (a placeholder or out of range)",
    "note_unreadable": "Note that could not be converted",
    "unreadable_value": "Value that could not be read (left empty)",
}

#: Flagged reasons written as sentences → their kind (first match wins).
_REASON_KINDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        (r"^no valid e-mail", "no_valid_email"),
        (r"^invalid e-mail", "invalid_email"),
        (r"^marketing consent without a valid e-mail", "consent_without_email"),
        (r"^marketing consent of an? ", "consent_not_subscribed"),
        (r"^note of .* over Pipedrive's limit", "note_over_limit"),
        (r"^property has no definition", "property_undefined"),
        (r"^(not a phone number|too long to be a phone|not a possible phone)", "junk_phone"),
        (r"^not a date/time", "bad_datetime"),
        (r"^date/time (out of range|before)", "implausible_time"),
        (r"^not a date", "bad_date"),
        (r"^not a yes/no", "bad_yes_no"),
        (r"^not one of the field's options", "bad_enum"),
        (r"^not a whole number of minutes|^not a duration|^duration must be", "bad_duration"),
        (r"^not a whole number", "bad_int"),
        (r"^not a (finite )?number", "bad_number"),
        (r"^not an interval|^interval ", "bad_interval"),
        (r"^(no valid CDT code|not a CDT code)", "bad_cdt"),
        (r"^surfaces are letters", "bad_surfaces"),
        (r"amount of money|^amount out of range", "bad_money"),
        (r"tooth", "invalid_tooth"),
        (r"^note could not be converted", "note_unreadable"),
        (r"; left empty$", "unreadable_value"),
    )
)
#: "code" or "code, code" at the start of a reason, before an optional ": particulars"
_LEADING_CODES = re.compile(
    r"^\s*([a-z][a-z0-9_]*(?:\s*,\s*[a-z][a-z0-9_]*)*)\s*(?::\s*(.*))?$", re.S
)
#: Pipedrive values a reason can name inside its sentence, in words
_INLINE_CODES = {"no_consent": "no consent"}
_INLINE = re.compile(r"\b(" + "|".join(_INLINE_CODES) + r")\b")
#: the workbook's transforms (``transform/registry.py``) as a reason names them: "the 'X' transform"
TRANSFORM_WORDS = {
    "text": "text", "name": "name", "truncate": "text", "none": "no value",
    "phone_e164": "phone number", "email": "e-mail", "date": "date",
    "datetime": "date and time", "due_datetime": "appointment time", "duration": "duration",
    "interval_months": "interval in months", "money": "money", "money_value": "amount",
    "int": "whole number", "number": "number", "bool_yes_no": "yes/no", "bool": "yes/no",
    "picklist": "picklist", "enum": "picklist", "tooth": "tooth", "cdt": "procedure code",
    "cdt_list": "procedure codes", "surfaces": "tooth surfaces", "note_html": "note",
}  # fmt: skip
_TRANSFORM = re.compile(r"'([a-z0-9_]+)' transform")


def _is_code(word: str) -> bool:
    return word in ISSUE_LABELS or "_" in word


def issue_label(code: str) -> str:
    """The plain words for an issue code; an unknown code is spelt out without underscores."""
    code = code.strip()
    if code in ISSUE_LABELS:
        return ISSUE_LABELS[code]
    words = code.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _codes(reason: str) -> tuple[list[str], str] | None:
    found = _LEADING_CODES.match(reason)
    if found is None:
        return None
    codes = [c.strip() for c in found.group(1).split(",")]
    if not all(_is_code(c) for c in codes):
        return None
    return codes, (found.group(2) or "").strip()


def plain_reason(reason: str) -> str:
    """A reason as a report shows it: leading issue codes (``phone_unverified: …``,
    ``phone_unverified, truncated: …``) become their plain labels; sentences stay as written."""
    text = _INLINE.sub(lambda m: _INLINE_CODES[m.group(1)], "" if reason is None else str(reason))
    text = _TRANSFORM.sub(
        lambda m: f"{TRANSFORM_WORDS.get(m.group(1), m.group(1).replace('_', ' '))} check", text
    )
    parsed = _codes(text)
    if parsed is None:
        return text
    codes, rest = parsed
    label = "; ".join(issue_label(c) for c in codes)
    return f"{label}: {rest}" if rest else label


def reason_kind(reason: str) -> str:
    """The kind of a flagged reason, as a key of :data:`ISSUE_LABELS` where one fits: its
    leading codes, or the kind its sentence says. Other reasons are their own kind (without
    particulars such as numbers), in plain words."""
    text = "" if reason is None else str(reason)
    parsed = _codes(text)
    if parsed is not None:
        return ", ".join(parsed[0])
    for pattern, kind in _REASON_KINDS:
        if pattern.search(text):
            return kind
    return re.sub(r"\b\d+\b", "…", text.split(";")[0])[:90]


def kind_label(kind: str) -> str:
    """The plain words of a :func:`reason_kind`."""
    if all(_is_code(c.strip()) for c in kind.split(",")):
        return "; ".join(issue_label(c) for c in kind.split(","))
    return plain_reason(kind)


def initials(name: str | None) -> str:
    """``"John Smith"`` → ``"J. S."``: at most the initials of a patient, never the name."""
    letters = [w[0].upper() for w in str(name or "").split() if w[:1].isalpha()]
    if len(letters) > 2:
        letters = [letters[0], letters[-1]]
    return " ".join(f"{c}." for c in letters)


# --- what needs attention --------------------------------------------------------------------


@dataclass
class Concern:
    """One thing a person should look at, and what to do about it (plain words, a command):
    every report opens with its list (``_attention.html.j2``)."""

    key: str  # what it is about: review, flagged, rejected, fallback, losses, delta, ...
    title: str
    count: int
    next: str  # what to do next; `commands` in backticks are shown as code
    level: str = "warn"  # or "bad": the migration is not right until it is dealt with
    rows: list[tuple[str, str]] = field(default_factory=list)  # (what, how many or why)
    more: int = 0  # rows not listed here
    link: str = ""  # the page or CSV that lists every one, relative to the project


def with_commands(text: str) -> Markup:
    """Text whose `backticked` parts are commands: escaped, each command in ``<code>``."""
    parts = str(text).split("`")
    return Markup("").join(
        Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts)
    )


_env = Environment(
    loader=PackageLoader("flitstack", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
#: every page shows the version it was made with (header and footer of ``_base.html.j2``)
_env.globals["version"] = __version__
_env.filters["plain"] = plain_reason
_env.filters["issue_label"] = issue_label
_env.filters["commands"] = with_commands
_env.tests["digits"] = lambda value: str(value).isdigit()


def private_dir(path: Path) -> Path:
    """Create (or tighten) a folder readable only by its owner."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: str | bytes) -> Path:
    """Write a file that only its owner can read, replacing any earlier version atomically."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(tmp, path)
    os.chmod(path, 0o600)
    return path


#: first characters that make a spreadsheet evaluate a cell (OWASP, "CSV Injection")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _needs_quote(text: str) -> bool:
    # quotes already in front of a trigger get one more, so restore_cell is exact:
    # "=1" -> "'=1" and "'=1" -> "''=1"
    bare = text.lstrip("'")
    return bare.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text)


def safe_cell(value: Any) -> str:
    """The text of one CSV cell, with a leading ``'`` if a spreadsheet would run it.

    ``None`` is the empty cell; a plain number such as ``-12.50`` is left as it is.
    """
    text = "" if value is None else str(value)
    return "'" + text if _needs_quote(text) else text


def restore_cell(text: str) -> str:
    """The value :func:`safe_cell` was given (as text): drops the quote it added, if any."""
    if text.startswith("'") and _needs_quote(text[1:]):
        return text[1:]
    return text


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A whole CSV document, header first, every cell through :func:`safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(v) for v in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue()


def write_csv(path: Path, header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a report CSV, owner-only, with every cell neutralised by :func:`safe_cell`."""
    return write_private(path, csv_text(header, rows))


def read_csv(path: Path) -> list[dict[str, str]]:
    """Read back a CSV written by :func:`write_csv`, with the original values."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = [restore_cell(h) for h in next(reader, [])]
        return [dict(zip(header, map(restore_cell, row), strict=False)) for row in reader]


def write_json(path: Path, data: Any) -> Path:
    return write_private(path, json.dumps(data, indent=2, default=str, sort_keys=False))


def render(template: str, **context: Any) -> str:
    """Render a packaged template with autoescape on."""
    return _env.get_template(template).render(**context)


def write_html(path: Path, template: str, **context: Any) -> Path:
    return write_private(path, render(template, **context))


def cli_console() -> Any:
    """The console every command prints through. Messages are never hard-wrapped (soft wrap):
    a one-line error stays one line in a log, a pipe or a narrow terminal, so it can be read
    and searched whole; tables still fit the terminal's width."""
    from rich.console import Console

    return Console(soft_wrap=True)
