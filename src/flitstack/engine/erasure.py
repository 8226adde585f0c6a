"""Erasure and purge of local copies: what flitstack keeps on disk about patients goes too.

``forget`` (see :meth:`flitstack.engine.migration.Migration.forget`) deletes a patient from
Pipedrive and from the state; :func:`purge_reports` then removes the patient's rows from every
report CSV and drops the pages that still name them (the next step rebuilds them). ``purge``
removes a finished project's local copies of patient data: the state, the reports and the
examples the workbook holds.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from flitstack.reporting import read_csv, write_csv


def _mentions(row: dict[str, str], keys: set[str], pairs: set[tuple[str, str]]) -> bool:
    if any(v in keys for v in row.values()):
        return True
    return (row.get("file", ""), row.get("source_id", "")) in pairs


def purge_reports(reports: Path, keys: list[str]) -> list[Path]:
    """Rows of the forgotten records removed from every CSV in ``reports``; HTML and JSON
    pages that name one of them removed (rebuilt by the next step). Returns what changed."""
    if not reports.is_dir() or not keys:
        return []
    wanted = set(keys)
    pairs = {tuple(k.split(":", 1)) for k in keys if ":" in k}
    changed = []
    for path in sorted(reports.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".csv":
            rows = read_csv(path)
            kept = [r for r in rows if not _mentions(r, wanted, pairs)]  # type: ignore[arg-type]
            if len(kept) != len(rows):
                header = list(rows[0]) if rows else []
                write_csv(path, header, ([r.get(h, "") for h in header] for r in kept))
                changed.append(path)
        elif path.suffix in {".html", ".json"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            if any(k in text for k in wanted):
                path.unlink()
                changed.append(path)
    return changed


@dataclass
class Purged:
    removed: list[Path] = field(default_factory=list)
    scrubbed: list[Path] = field(default_factory=list)


def purge_project(root: Path, state: Path, reports: Path, workbook: Path) -> Purged:
    """Remove a finished project's local copies of patient data: the state (ID map, payloads,
    before-images, audit), the reports folder, the run report and the map's page; the
    workbook stays (it is the record of what was decided) without its value examples."""
    from flitstack.mapping.workbook import load_workbook, save_workbook

    out = Purged()
    for path in (state, state.with_name(state.name + "-wal"), state.with_name(state.name + "-shm"),
                 root / "report.html", workbook.with_suffix(".html")):  # fmt: skip
        if path.exists():
            path.unlink()
            out.removed.append(path)
    if reports.exists():
        shutil.rmtree(reports)
        out.removed.append(reports)
    if workbook.exists():
        wb = load_workbook(workbook)
        wb.columns = [c.model_copy(update=_no_examples(c)) for c in wb.columns]
        save_workbook(wb, workbook)
        out.scrubbed.append(workbook)
    return out


def _no_examples(column: object) -> dict[str, object]:
    """The fields of a column entry that hold values from the export, emptied."""
    update: dict[str, object] = {}
    for name in ("failing",):
        if hasattr(column, name):
            update[name] = []
    return update
