"""Exports that lack files or columns, or spell file names in another case, still propose a
map that confirms and migrates."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import save_workbook
from flitstack.settings import Settings
from flitstack.source.generator import generate_export


def _drop_column(path: Path, column: str) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    i = rows[0].index(column)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([r[:i] + r[i + 1 :] for r in rows])


def test_missing_files_columns_and_capitalised_names(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 6, seed=9)
    (export / "appointments.csv").unlink()
    _drop_column(export / "treatment_plans.csv", "Status")
    shutil.move(export / "patients.csv", export / "Patients.csv")
    wb = propose_map(export, Settings(timezone="America/Chicago"))
    assert {c.file for c in wb.columns} >= {"patients", "treatment_plans"}
    assert not any(v.file == "appointments" for v in wb.value_maps)
    assert not any(v.file == "treatment_plans" and v.column == "Status" for v in wb.value_maps)
    path = save_workbook(wb, tmp_path / "map.yaml")
    assert confirm_workbook(path, "Test", protection_as_proposed=True).digest
