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
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_env = Environment(
    loader=PackageLoader("flitstack", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


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
