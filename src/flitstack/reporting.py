"""Writing reports safely: owner-only files, autoescaped HTML templates, CSV and JSON.

Reports hold patient data, so every file is created 0600 inside 0700 folders, and every value
shown in HTML goes through jinja2's autoescape.
"""

from __future__ import annotations

import csv
import io
import json
import os
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


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return write_private(path, buffer.getvalue())


def write_json(path: Path, data: Any) -> Path:
    return write_private(path, json.dumps(data, indent=2, default=str, sort_keys=False))


def render(template: str, **context: Any) -> str:
    """Render a packaged template with autoescape on."""
    return _env.get_template(template).render(**context)


def write_html(path: Path, template: str, **context: Any) -> Path:
    return write_private(path, render(template, **context))
