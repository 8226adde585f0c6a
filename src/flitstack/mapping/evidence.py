"""The proposal weighs evidence: each proposed transform is run over the column's values.

A name can fool the proposer; the values cannot. For every mapped column whose transform is a
pure value transform, the export is read (through the proposal's own bindings, the first
``ROWS_PER_FILE`` rows of each file) and the transform applied to every non-empty value. The
success rate lands in the workbook; under ``REVIEW_BELOW_SUCCESS`` the entry is marked for
review with failing examples (masked when the column holds personal data) and why.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import ColumnMap, Workbook
from flitstack.settings import Settings
from flitstack.source import values as v
from flitstack.source.reader import Row, month_first, open_export
from flitstack.source.schema import FILES, Kind
from flitstack.transform import TransformContext, apply
from flitstack.transform.registry import DATE_TRANSFORMS, TRANSFORMS

#: A column whose values pass its transform less often than this is proposed for review.
REVIEW_BELOW_SUCCESS = 0.98
ROWS_PER_FILE = 5000
FAILING_EXAMPLES = 3


def _mask(text: str) -> str:
    from flitstack.source.audit import mask

    return mask(text)


def _personal(c: ColumnMap) -> bool:
    spec = FILES.get(c.file)
    column = spec.column(c.key) if spec else None
    return column.personal if column is not None else True  # unknown columns: assume personal


def weigh(wb: Workbook, export_path: Path, settings: Settings | None = None) -> Workbook:
    """Run each proposed column's transform over its values; record success and flag review."""
    settings = settings or Settings()
    checkable = [c for c in wb.columns if c.migrate and c.transform in TRANSFORMS]
    by_file: dict[str, list[ColumnMap]] = {}
    for c in checkable:
        if c.transform not in {"none", "text", "name", "truncate", "note_html"}:
            by_file.setdefault(c.file, []).append(c)
    day_first = wb.date_order == "day-first"
    with open_export(export_path, Bindings.from_workbook(wb)) as export:
        taken = export.manifest.exported_at
        reference = taken.date() if taken is not None else None
        for file, columns in by_file.items():
            if not export.has(file):
                continue
            tried: Counter[str] = Counter()
            passed: Counter[str] = Counter()
            failing: dict[str, list[str]] = {c.column: [] for c in columns}
            contexts = {}
            for c in columns:
                options = dict(c.options)
                if c.custom is not None and c.custom.options:
                    options["options"] = c.custom.options
                contexts[c.column] = TransformContext(
                    settings=settings, options=options, reference_date=reference
                )
            for n, row in enumerate(export.read(file)):
                if n >= ROWS_PER_FILE:
                    break
                if not isinstance(row, Row):
                    continue
                for c in columns:
                    raw = row.raw.get(c.key)
                    if raw is None or v.is_null(str(raw)):
                        continue
                    tried[c.column] += 1
                    if day_first and c.transform in DATE_TRANSFORMS:
                        raw = month_first(file, c.key, str(raw))
                    if apply(c.transform, str(raw), contexts[c.column]).ok:
                        passed[c.column] += 1
                    elif len(failing[c.column]) < FAILING_EXAMPLES:
                        text = str(raw).strip()[:40]
                        failing[c.column].append(_mask(text) if _personal(c) else text)
            for c in columns:
                if not tried[c.column]:
                    continue
                c.success = round(passed[c.column] / tried[c.column], 4)
                c.failing = failing[c.column]
                if c.success < REVIEW_BELOW_SUCCESS:
                    c.review = True
                    shown = ", ".join(repr(x) for x in c.failing)
                    c.reason = (
                        f"REVIEW: only {c.success:.1%} of {tried[c.column]:,} values pass the "
                        f"'{c.transform}' transform (failing: {shown}); the rest would be left "
                        f"empty. {c.reason}"
                    )
    _check_references(wb, export_path)
    return wb


#: A reference column whose values name rows of its file's parent less often than this is
#: proposed for review (the header matched a reference; its values do not).
REVIEW_BELOW_OVERLAP = 0.9


def _check_references(wb: Workbook, export_path: Path) -> None:
    """A column placed as a reference (``PatientID`` of appointments…) must hold IDs of the
    file it points at: compare its values with that file's ID set."""
    refs = []
    for c in wb.columns:
        spec = FILES.get(c.file)
        column = spec.column(c.key) if spec else None
        if column is not None and column.kind is Kind.REF and column.ref and c.role:
            refs.append((c, column.ref))
    if not refs:
        return
    bindings = Bindings.from_workbook(wb)
    ids: dict[str, set[str]] = {}
    with open_export(export_path, bindings) as export:
        for _c, parent in refs:
            spec = FILES[parent]
            if parent in ids or spec.id_column is None or not export.has(parent):
                continue
            ids[parent] = {
                str(r.values.get(spec.id_column) or "").strip()
                for r in export.read(parent)
                if isinstance(r, Row)
            }
        for c, parent in refs:
            if parent not in ids or not export.has(c.file):
                continue
            tried = found = 0
            for n, row in enumerate(export.read(c.file)):
                if n >= ROWS_PER_FILE:
                    break
                if not isinstance(row, Row):
                    continue
                value = str(row.values.get(c.key) or "").strip()
                if value:
                    tried += 1
                    found += value in ids[parent]
            if tried >= 10 and found / tried < REVIEW_BELOW_OVERLAP:
                c.review = True
                c.reason = (
                    f"REVIEW: only {found / tried:.0%} of {tried:,} values are IDs of "
                    f"{parent}.csv: is this really the reference to {parent}? {c.reason}"
                )
