"""Every step before the migration reads an export by role: renamed headers change no figure.

One generated export is written twice, with the MDC format's headers and with its headers
renamed, reordered and extended (tests/support/renamer.py); a messier pair makes every damage
figure non-zero. The audit's damage and row counts, the estimate, the rebuild reference and the
later export made for delta tests must come out the same for both.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.support.renamer import EXTRAS, RENAMES, rename_export

from flitstack.journey.estimate import Estimate, estimate_migration
from flitstack.journey.rebuild import build_reference
from flitstack.mapping.propose import propose_bindings, propose_from_profiles, propose_map
from flitstack.mapping.roles import Bindings, header_key
from flitstack.mapping.workbook import Workbook
from flitstack.settings import Settings
from flitstack.source.audit import AuditReport, audit_export
from flitstack.source.generator import generate_export
from flitstack.source.later import make_later_export, new_ids
from flitstack.source.mess import MessRates
from flitstack.source.reader import BindingSource, Row, open_export

SETTINGS = Settings(timezone="America/Chicago")
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # the estimate's schedule starts here
PAIRS = [("canonical", "renamed"), ("messy", "messy-renamed")]
#: what the edits of a later export touch
EDITED = ("patients", "appointments", "treatment_plans")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("renamed-exports")
    generate_export(root / "canonical", 40, seed=21)
    rename_export(root / "canonical", root / "renamed")
    generate_export(root / "messy", 40, seed=21, mess=MessRates().scaled(4))
    rename_export(root / "messy", root / "messy-renamed")
    return {name: root / name for name in ("canonical", "renamed", "messy", "messy-renamed")}


@pytest.fixture(scope="module")
def audits(exports: dict[str, Path]) -> dict[str, AuditReport]:
    out = {}
    for name, path in exports.items():
        with open_export(path) as export:
            out[name] = audit_export(export, SETTINGS)
    return out


@pytest.fixture(scope="module")
def proposals(exports: dict[str, Path]) -> dict[str, Workbook]:
    return {name: propose_map(exports[name], SETTINGS) for name in ("canonical", "renamed")}


@pytest.mark.parametrize(("canonical", "renamed"), PAIRS)
def test_the_audit_finds_the_same_damage(
    audits: dict[str, AuditReport], canonical: str, renamed: str
) -> None:
    a, b = audits[canonical].damage, audits[renamed].damage
    assert a.orphan_references == b.orphan_references
    assert a.patients_without_email == b.patients_without_email
    assert a.duplicate_patients == b.duplicate_patients
    assert a.deleted_patients_with_appointments == b.deleted_patients_with_appointments
    assert a.missing_document_files == b.missing_document_files
    assert a == b  # every other figure too, examples included
    assert a.orphan_references and a.patients_without_email
    if canonical == "messy":  # none of the comparisons above compares zeros
        counts = a.as_mess_counts()
        assert all(counts.values()), counts


@pytest.mark.parametrize(("canonical", "renamed"), PAIRS)
def test_the_audit_reads_and_rejects_the_same_rows(
    audits: dict[str, AuditReport], canonical: str, renamed: str
) -> None:
    a, b = audits[canonical], audits[renamed]

    def counts(report: AuditReport) -> dict[str, tuple[int, int, int]]:
        return {f.file: (f.rows_read, f.rows_yielded, f.rows_rejected) for f in report.files}

    assert counts(a) == counts(b)
    assert a.rows_read == b.rows_read > 1000
    assert a.rejects_total == b.rejects_total
    assert [(r.file, r.line) for r in a.rejects] == [(r.file, r.line) for r in b.rejects]


def test_profiles_keep_the_headers_and_bound_columns_are_not_missing(
    audits: dict[str, AuditReport],
) -> None:
    report = audits["renamed"]
    by_file = {f.file: f for f in report.files}
    for file, renames in RENAMES.items():
        audited = by_file[file]
        # the export's own headers, as the file spells them (also those that are the format's
        # names but for case and spaces: the map and its reports name what the file says)
        assert set(renames.values()) <= {c.column for c in audited.columns}, file
        spelled = [
            h for role, h in renames.items() if h != role and header_key(h) == header_key(role)
        ]
        assert all(c.known for c in audited.columns if c.column in spelled), file
        assert audited.missing_columns == [], file
        assert audited.unknown_columns == EXTRAS.get(file, []), file
    canonical = {f.file: f for f in audits["canonical"].files}
    assert all(not f.missing_columns and not f.unknown_columns for f in canonical.values())


def test_the_audit_binds_as_the_map_proposal_does(
    exports: dict[str, Path], audits: dict[str, AuditReport], proposals: dict[str, Workbook]
) -> None:
    report = audits["renamed"]
    proposed = Bindings.from_workbook(proposals["renamed"])
    assert report.bindings == proposed
    # the proposal the audit made for its checks is reused, not made again
    assert report.proposal is not None
    fresh = propose_from_profiles(report.profiles, SETTINGS)
    reused = propose_from_profiles(report.profiles, SETTINGS, proposed=report.proposal)
    assert reused.columns == fresh.columns
    # bindings given (the project's map) give the same figures, and no proposal of its own
    with open_export(exports["renamed"]) as export:
        given = audit_export(export, SETTINGS, bindings=proposed)
    assert given.damage == report.damage
    assert given.proposal is None and given.bindings is proposed
    assert [f.model_dump() for f in given.files] == [f.model_dump() for f in report.files]
    # a few files alone are bound as the whole proposal binds them
    few = propose_bindings(exports["renamed"], EDITED)
    assert few.files == {f: proposed.files[f] for f in EDITED}


def _loads(est: Estimate) -> dict[str, Any]:
    return {load.object: [asdict(c) for c in load.calls] for load in est.loads}


def test_the_estimate_is_the_same(exports: dict[str, Path], proposals: dict[str, Workbook]) -> None:
    a = estimate_migration(exports["canonical"], "advanced", 2, SETTINGS, start=START)
    b = estimate_migration(exports["renamed"], "advanced", 2, SETTINGS, start=START)
    assert a.source_rows == b.source_rows
    assert a.records_written == b.records_written > 500
    fields = "setup: custom fields"
    la, lb = _loads(a), _loads(b)
    assert {k: v for k, v in la.items() if k != fields} == {
        k: v for k, v in lb.items() if k != fields
    }
    # the renamed export's extra columns (EXTRAS) are its only difference: one more custom
    # field each, except the appointment column, which becomes a line of the activity note
    extra = [c for c in proposals["renamed"].columns if c.role is None and c.migrate and c.custom]
    assert len(extra) == 3
    setup_a = next(x for x in a.loads if x.object == fields)
    setup_b = next(x for x in b.loads if x.object == fields)
    assert setup_b.records - setup_a.records == len(extra)
    assert b.requests - a.requests == len(extra)
    assert b.tokens - a.tokens == setup_b.tokens - setup_a.tokens == len(extra) * 5
    # the project's map gives the same figures as the proposal it is
    given = estimate_migration(
        exports["renamed"], "advanced", 2, SETTINGS, workbook=proposals["renamed"], start=START
    )
    assert given.as_dict() == b.as_dict()


def test_the_rebuild_reference_is_the_same(
    exports: dict[str, Path], proposals: dict[str, Workbook]
) -> None:
    a = build_reference(exports["canonical"])
    b = build_reference(exports["renamed"])
    assert a.counts() == b.counts()
    assert [asdict(r) for r in a.rules] == [asdict(r) for r in b.rules]
    assert [asdict(r) for r in a.recalls] == [asdict(r) for r in b.recalls]
    assert sum(r.patients for r in b.recalls) > 10
    assert any(r.disabled for r in b.recalls)
    given = build_reference(exports["renamed"], workbook=proposals["renamed"])
    assert [asdict(r) for r in given.recalls] == [asdict(r) for r in b.recalls]


def _by_role(path: Path, bindings: BindingSource | None) -> dict[str, dict[str, Any]]:
    """Each edited file's rows keyed by source ID, values by role (extra columns left out)."""
    out: dict[str, dict[str, Any]] = {}
    with open_export(path, bindings) as export:
        for file in EDITED:
            for row in export.read(file):
                if isinstance(row, Row):
                    known = {k: v for k, v in row.values.items() if k not in EXTRAS.get(file, [])}
                    out[f"{file}:{row.source_id}"] = known
    return out


def test_a_later_export_of_a_renamed_export(
    exports: dict[str, Path], proposals: dict[str, Workbook], tmp_path: Path
) -> None:
    a = make_later_export(exports["canonical"], tmp_path / "canonical-later")
    b = make_later_export(exports["renamed"], tmp_path / "renamed-later")
    assert a == b
    assert {k: len(v) for k, v in b.changed.items()} == {
        "patients": 4, "appointments": 2, "treatment_plans": 1,
    }  # fmt: skip
    assert {k: len(v) for k, v in b.added.items()} == {"patients": 2, "appointments": 2}
    assert {k: len(v) for k, v in b.deleted.items()} == {"patients": 1}
    bindings = Bindings.from_workbook(proposals["renamed"])
    # the edits landed in the columns that play their roles: both later exports read the same
    before = _by_role(exports["renamed"], bindings)
    after = _by_role(tmp_path / "renamed-later", bindings)
    assert after == _by_role(tmp_path / "canonical-later", None)
    assert after != before
    (gone,) = b.deleted["patients"]
    assert after[f"patients:{gone}"]["Status"] == "Deleted"
    for pid in b.added["patients"]:
        assert after[f"patients:{pid}"]["LastName"] == "Newpatient"
    # the renamed headers, their order and the extra columns are kept
    for file in EDITED:
        with (tmp_path / "renamed-later" / f"{file}.csv").open(newline="", errors="replace") as fh:
            header = next(csv.reader(fh))
        with (exports["renamed"] / f"{file}.csv").open(newline="", errors="replace") as fh:
            assert header == next(csv.reader(fh))
    # given the map's bindings, the same edits
    c = make_later_export(exports["renamed"], tmp_path / "given-later", bindings=bindings)
    assert c == b


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def test_a_later_export_when_ids_are_not_numbers(tmp_path: Path) -> None:
    src = tmp_path / "export"
    src.mkdir()
    _write(
        src / "patients.csv",
        ["PatientID", "FirstName", "LastName", "Status", "MobilePhone", "ModifiedAt"],
        [[f"A{i}", f"First{i}", "Last", "Active", "", ""] for i in range(1, 9)],
    )
    _write(
        src / "appointments.csv",
        ["AppointmentID", "PatientID", "Status", "ModifiedAt"],
        [[f"AP-{i:03d}", f"A{i}", "Scheduled", ""] for i in range(1, 9)],
    )
    _write(
        src / "treatment_plans.csv",
        ["TreatmentPlanID", "PatientID", "Status", "AcceptedDate", "ModifiedAt"],
        [[f"TP{i}x", f"A{i}", "Proposed", "", ""] for i in range(1, 9)],
    )
    edits = make_later_export(src, tmp_path / "later")
    assert edits.added == {"patients": ["A9", "A10"], "appointments": ["AP-009", "AP-010"]}
    assert len(edits.changed["patients"]) == 4 and len(edits.deleted["patients"]) == 1
    assert len(edits.changed["appointments"]) == 2 and len(edits.changed["treatment_plans"]) == 1
    with open_export(tmp_path / "later") as export:
        patients = {r.source_id: r for r in export.read("patients") if isinstance(r, Row)}
        appointments = {r.source_id: r for r in export.read("appointments") if isinstance(r, Row)}
    assert len(patients) == 10 and len(appointments) == 10
    assert patients["A10"].values["FirstName"] == "Jordan"
    assert appointments["AP-010"].values["PatientID"] == "A10"
    assert patients[edits.deleted["patients"][0]].values["Status"] == "Deleted"


def test_new_ids_follow_the_style_of_the_existing_ones() -> None:
    assert new_ids(["7", " 12 ", "3"], 2) == ["13", "14"]
    assert new_ids(["A1", "A2", "A10"], 2) == ["A11", "A12"]
    assert new_ids(["P-0001", "P-0040"], 1) == ["P-0041"]
    assert new_ids(["x", "y"], 2) == ["y-new1", "y-new2"]
    assert new_ids([], 1) == ["1"]
    taken = {"A1", "B7", "B9"}
    assert not set(new_ids(taken, 3)) & taken


def test_a_later_export_keeps_each_files_separator(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    """Files saved with semicolons get their edits, new rows included, with semicolons: the
    later export reads as the one made from the comma-separated files."""
    source = tmp_path / "semicolons"
    shutil.copytree(exports["canonical"], source)
    for file in ("patients", "appointments"):
        path = source / f"{file}.csv"
        with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            records = list(csv.reader(fh))
        with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
            csv.writer(fh, delimiter=";").writerows(records)
    a = make_later_export(exports["canonical"], tmp_path / "canonical-later")
    b = make_later_export(source, tmp_path / "semicolons-later")
    assert a == b
    for file in ("patients", "appointments"):
        with (tmp_path / "semicolons-later" / f"{file}.csv").open(
            newline="", encoding="utf-8", errors="surrogateescape"
        ) as fh:
            lines = fh.read().splitlines()
        assert all("," not in line.split(";", 1)[0] for line in lines if line)
        assert _by_role(tmp_path / "semicolons-later", None) == _by_role(
            tmp_path / "canonical-later", None
        )


def test_a_later_export_keeps_the_lines_above_a_header(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    source = tmp_path / "titled"
    shutil.copytree(exports["canonical"], source)
    path = source / "patients.csv"
    title = b"Patients report\r\n\r\n"
    path.write_bytes(title + path.read_bytes())
    a = make_later_export(exports["canonical"], tmp_path / "canonical-later")
    b = make_later_export(source, tmp_path / "titled-later")
    assert a == b
    assert (tmp_path / "titled-later" / "patients.csv").read_bytes().startswith(title)
    assert _by_role(tmp_path / "titled-later", None) == _by_role(tmp_path / "canonical-later", None)
