"""The proposal weighs evidence: a column whose values mostly fail its transform is reviewed."""

from __future__ import annotations

import csv
from pathlib import Path

from flitstack.mapping.propose import propose_map
from flitstack.settings import Settings
from flitstack.source.generator import generate_export


def _rewrite(path: Path, column: str, make: object) -> None:
    with path.open(encoding="utf-8-sig", newline="", errors="surrogateescape") as fh:
        rows = list(csv.reader(fh))
    at = rows[0].index(column)
    for n, row in enumerate(rows[1:]):
        if len(row) > at:
            row[at] = make(n)  # type: ignore[operator]
    with path.open("w", encoding="utf-8", newline="", errors="surrogateescape") as fh:
        csv.writer(fh).writerows(rows)


def test_a_column_whose_values_fail_its_transform_is_proposed_for_review(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 40, seed=8)
    # the birth dates of this practice were typed as free text most of the time
    _rewrite(export / "patients.csv", "DateOfBirth", lambda n: "ask patient" if n % 4 else "")
    wb = propose_map(export, Settings(timezone="America/Chicago"))
    dob = wb.column_map("patients", "DateOfBirth")
    assert dob is not None and dob.review
    assert dob.success is not None and dob.success < 0.98
    assert "values pass the 'date' transform" in dob.reason
    assert dob.failing and all("ask patient" not in f for f in dob.failing)  # masked: personal
    # columns that are fine keep their measured success and no review for it
    email = wb.column_map("patients", "Email")
    assert email is not None and email.success is not None and email.success > 0.8


def test_recall_intervals_with_units_pass_and_are_not_flagged(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 30, seed=8)
    units = ["6m", "6 mo", "12 months", "1y", "26w", "6"]
    _rewrite(export / "recalls.csv", "IntervalMonths", lambda n: units[n % len(units)])
    wb = propose_map(export, Settings(timezone="America/Chicago"))
    interval = wb.column_map("recalls", "IntervalMonths")
    assert interval is not None and interval.transform == "interval_months"
    assert interval.success == 1.0 and not interval.review


def test_a_reference_column_whose_values_are_not_ids_of_its_parent_is_reviewed(
    tmp_path: Path,
) -> None:
    export = tmp_path / "export"
    generate_export(export, 30, seed=8)
    # the appointments' patient column holds chart numbers of another system
    _rewrite(export / "appointments.csv", "PatientID", lambda n: f"CH-{n:05d}")
    wb = propose_map(export, Settings(timezone="America/Chicago"))
    ref = wb.column_map("appointments", "PatientID")
    assert ref is not None and ref.review
    assert "values are IDs of patients.csv" in ref.reason
    fine = wb.column_map("clinical_notes", "PatientID")
    assert fine is not None and not fine.review
