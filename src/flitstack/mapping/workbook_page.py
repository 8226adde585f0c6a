"""The workbook as a readable page beside its YAML (review entries first)."""

from __future__ import annotations

from pathlib import Path

from flitstack.mapping.confirm import read_confirmation
from flitstack.mapping.workbook import Workbook
from flitstack.reporting import write_html


def write_workbook_html(wb: Workbook, workbook_path: Path) -> Path:
    """Write ``<workbook>.html`` (owner-only, every value escaped)."""
    return write_html(
        workbook_path.with_suffix(".html"),
        "workbook.html.j2",
        wb=wb,
        review=[c for c in wb.columns if c.review],
        confirmation=read_confirmation(workbook_path),
    )
