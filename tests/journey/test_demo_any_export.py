"""``flitstack demo --export`` on exports that are not the bundled sample.

The demo reads, maps and edits (its later export for the delta step) by role, so it must
complete on an export whose headers are renamed, reordered and extended, on one whose IDs are
not numbers (``A1``, ``AP-7``), and on a zip without export.json; each delta creates and updates
records and every source row is accounted for. An export that lacks a file or a column the later
export edits gets fewer edits, each said; a broken export is one line, never a traceback.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flitstack.cli import app
from flitstack.journey.demo import Quiet, run_demo
from flitstack.source.generator import generate_export
from flitstack.source.later import make_later_export
from flitstack.source.reader import ExportError, Row, detect_encoding, open_export
from flitstack.source.schema import FILES, Kind
from tests.support.renamer import EXTRAS, RENAMES, rename_export

#: the later export's edits: two new patients, each with a first appointment
NEW_RECORDS = {"persons": 2, "activities": 2}
EDITED = ("patients", "appointments", "treatment_plans")


class Recording(Quiet):
    """A display that keeps what the demo says and warns."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, text: str) -> None:
        self.lines.append(text)

    def warn(self, text: str) -> None:
        self.lines.append(text)


@pytest.fixture(scope="module")
def canonical(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("any-export") / "canonical"
    generate_export(out, 20, seed=11)
    return out


def _csv(path: Path) -> tuple[list[list[str]], str, str]:
    """A CSV file's rows, encoding and line ending."""
    raw = path.read_bytes()
    encoding = detect_encoding(lambda: io.BytesIO(raw), path.name)
    newline = "\r\n" if b"\r\n" in raw else "\n"
    return list(csv.reader(io.StringIO(raw.decode(encoding), newline=""))), encoding, newline


def _write_csv(path: Path, rows: list[list[str]], encoding: str, newline: str) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))


#: each file's IDs get a prefix and are numbered again from 1: patients A1, A2…
PREFIX = {
    "patients": "A", "providers": "DR", "locations": "LOC-", "insurance_carriers": "INS",
    "patient_insurance": "COV", "appointments": "AP-", "treatment_plans": "TP",
    "treatment_plan_items": "TPI", "recalls": "R", "clinical_notes": "N", "ledger_entries": "L",
    "lab_cases": "LAB", "referrals": "REF", "documents": "DOC", "automations": "RULE",
}  # fmt: skip


def _alphanumeric_ids(src: Path, dst: Path) -> dict[str, dict[str, str]]:
    """Copy ``src`` with every ID and every reference to it rewritten (``1001`` → ``A1``); a
    reference to no row stays a reference to no row. Returns file → {old ID: new ID}."""
    shutil.copytree(src, dst)
    files = {f: _csv(dst / f"{f}.csv") for f in FILES if (dst / f"{f}.csv").exists()}
    renumbered: dict[str, dict[str, str]] = {}
    for file, (rows, _, _) in files.items():
        spec = FILES[file]
        if file not in PREFIX or spec.id_column not in rows[0]:
            continue
        at = rows[0].index(spec.id_column)
        ids = renumbered.setdefault(file, {})
        for row in rows[1:]:
            old = row[at].strip() if at < len(row) else ""
            if old and old not in ids:
                ids[old] = f"{PREFIX[file]}{len(ids) + 1}"
    for file, (rows, encoding, newline) in files.items():
        columns = {c.name: c for c in FILES[file].columns}
        points = {}  # position → the file whose IDs the column holds
        for at, header in enumerate(rows[0]):
            column = columns.get(header)
            if column is not None and column.kind is Kind.ID and file in renumbered:
                points[at] = file
            elif column is not None and column.kind is Kind.REF and column.ref in renumbered:
                points[at] = str(column.ref)
        for row in rows[1:]:
            for at, target in points.items():
                old = row[at].strip() if at < len(row) else ""
                if old:
                    row[at] = renumbered[target].get(old, f"{PREFIX[target]}x{old}")
        _write_csv(dst / f"{file}.csv", rows, encoding, newline)
    return renumbered


def _without_manifest_zipped(src: Path, dst: Path) -> Path:
    """``src`` as a zip under one top-level folder, without export.json."""
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(src.rglob("*")):
            if path.is_file() and path.name != "export.json":
                archive.write(path, f"practice-export/{path.relative_to(src).as_posix()}")
    return dst


def _card(html: str, label: str) -> int:
    found = re.search(rf">{re.escape(label)}<b[^>]*>(\d+)</b>", html)
    assert found, f"no card {label!r} in the report"
    return int(found.group(1))


def _completed_with_a_delta(result: dict[str, Any]) -> None:
    """The journey ran to its report; the delta created and updated; no row unaccounted."""
    summary, delta, edits = result["summary"], result["delta"], result["edits"]
    assert summary.source_rows["patients"] >= 20
    assert summary.unaccounted() == {}
    assert delta.load.unaccounted() == {}
    assert _card(result["report"].read_text(), "Unaccounted rows") == 0
    assert edits.skipped == []
    assert {k: len(v) for k, v in edits.added.items()} == {"patients": 2, "appointments": 2}
    assert len(edits.changed["patients"]) == 4 and len(edits.deleted["patients"]) == 1
    assert dict(delta.created) == NEW_RECORDS
    assert delta.updated["persons"] >= 4  # the four whose phone changed (and maybe the deleted)
    assert sum(delta.updated.values()) > delta.updated["persons"]  # appointments, the plan
    assert result["sample_diff"].clean and result["full_diff"].clean


def test_a_renamed_reordered_export_with_extra_columns(canonical: Path, tmp_path: Path) -> None:
    export = tmp_path / "renamed"
    rename_export(canonical, export)
    show = Recording()
    result = run_demo(tmp_path / "project", export, sample=4, rollback=True, show=show)
    _completed_with_a_delta(result)
    assert result["rollback"]["differences"] == []
    # the later export kept the practice's headers, their order and its extra columns
    for file in EDITED:
        header = _csv(export / f"{file}.csv")[0][0]
        later = _csv(tmp_path / "project" / "later-export" / f"{file}.csv")[0][0]
        assert later == header
        assert set(RENAMES[file].values()) | set(EXTRAS[file]) <= set(header)
    # read by role, the later export's new patient is there under the renamed headers
    pid = result["edits"].added["patients"][0]
    rows = _csv(tmp_path / "project" / "later-export" / "patients.csv")[0]
    at = rows[0].index(RENAMES["patients"]["PatientID"])
    last = rows[0].index(RENAMES["patients"]["LastName"])
    assert [r[last] for r in rows[1:] if len(r) > at and r[at] == pid] == ["Newpatient"]


def test_an_export_whose_ids_are_not_numbers(canonical: Path, tmp_path: Path) -> None:
    export = tmp_path / "alphanumeric"
    renumbered = _alphanumeric_ids(canonical, export)
    assert renumbered["patients"]["1001"] == "A1"
    result = run_demo(tmp_path / "project", export, sample=4, rollback=False)
    _completed_with_a_delta(result)
    edits = result["edits"]
    patients, appointments = renumbered["patients"], renumbered["appointments"]
    n = len(patients)
    assert edits.added["patients"] == [f"A{n + 1}", f"A{n + 2}"]
    assert edits.added["appointments"] == [f"AP-{len(appointments) + i}" for i in (1, 2)]
    assert all(pid in patients.values() for pid in edits.changed["patients"])
    with open_export(tmp_path / "project" / "later-export") as later:
        by_id = {r.source_id: r for r in later.read("appointments") if isinstance(r, Row)}
    new_appt = by_id[edits.added["appointments"][1]]
    assert new_appt.values["PatientID"] == edits.added["patients"][1]


def test_a_zipped_export_without_export_json(canonical: Path, tmp_path: Path) -> None:
    export = _without_manifest_zipped(canonical, tmp_path / "export.zip")
    show = Recording()
    result = run_demo(tmp_path / "project", export, sample=4, rollback=False, show=show)
    _completed_with_a_delta(result)
    said = " ".join(show.lines)
    assert "no export.json" in said and "UTC" in said
    assert (tmp_path / "project" / "later-export" / "patients.csv").is_file()


def test_the_command_line_on_an_export_missing_columns_the_delta_edits(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 6, seed=8)
    rows, encoding, newline = _csv(export / "patients.csv")
    keep = [i for i, h in enumerate(rows[0]) if h not in ("MobilePhone", "Status")]
    _write_csv(export / "patients.csv", [[r[i] for i in keep if i < len(r)] for r in rows],
               encoding, newline)  # fmt: skip
    runner = CliRunner()
    project = tmp_path / "project"
    done = runner.invoke(
        app, ["demo", "--out", str(project), "--export", str(export), "--sample", "2",
              "--no-rollback"],
    )  # fmt: skip
    flat = " ".join(done.output.split())
    assert done.exit_code == 0, flat[-3000:]
    # no patient can be marked Deleted, and the demo says so; the phone changes fall back to
    # the next contact column the export has (E-mail)
    assert "fewer edits: patients.csv: no column plays Status: no patient marked Deleted" in flat
    assert "MobilePhone" not in flat
    assert re.search(r"created \d+, updated [1-9]\d*", flat), flat[-3000:]
    assert f"Report: {project / 'report.html'}" in flat
    # a broken export: one line naming it, its exit code, no traceback
    missing = runner.invoke(app, ["demo", "--out", str(tmp_path / "p2"), "--export",
                                  str(tmp_path / "nowhere")])  # fmt: skip
    assert missing.exit_code == 2
    assert isinstance(missing.exception, SystemExit)
    assert "Traceback" not in missing.output
    lines = [line for line in missing.output.splitlines() if "error:" in line]
    assert len(lines) == 1 and "nowhere" in " ".join(missing.output.split())


def _export(folder: Path, files: dict[str, list[list[str]]]) -> Path:
    folder.mkdir()
    for name, rows in files.items():
        _write_csv(folder / f"{name}.csv", rows, "utf-8", "\n")
    return folder


def test_an_export_lacking_files_and_columns_gets_fewer_edits_each_said(tmp_path: Path) -> None:
    # patients without Status or any contact column, no appointments.csv, plans without Status
    src = _export(
        tmp_path / "export",
        {
            "patients": [["PatientID", "FirstName", "LastName"]]
            + [[f"P{i}", f"First{i}", "Last"] for i in range(1, 9)],
            "treatment_plans": [["TreatmentPlanID", "PatientID"], ["T1", "P1"]],
        },
    )
    edits = make_later_export(src, tmp_path / "later")
    assert edits.changed == {} and edits.deleted == {}
    assert edits.added == {"patients": ["P9", "P10"]}
    said = "\n".join(edits.skipped)
    assert "patients.csv: no column plays Status: no patient marked Deleted" in said
    assert "patients.csv: no column plays MobilePhone or Email" in said
    assert "appointments.csv is not in the export" in said
    assert "treatment_plans.csv: no column plays Status" in said
    with open_export(tmp_path / "later") as later:
        patients = [r for r in later.read("patients") if isinstance(r, Row)]
    assert [p.values["LastName"] for p in patients[-2:]] == ["Newpatient", "Newpatient"]
    # an export with no patients file at all: nothing to edit, said, no crash
    only = _export(tmp_path / "only-plans", {"treatment_plans": [["TreatmentPlanID"], ["T1"]]})
    edits = make_later_export(only, tmp_path / "later-2")
    assert edits.added == {} and any(
        "patients.csv is not in the export" in s for s in edits.skipped
    )
    # an export that is not there: the reader's one-line error
    with pytest.raises(ExportError, match="nowhere"):
        make_later_export(tmp_path / "nowhere", tmp_path / "later-3")


def test_the_later_export_keeps_encoding_mark_line_endings_and_quoting(
    canonical: Path, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    shutil.copytree(canonical, export)
    before: dict[str, bytes] = {}
    for file in EDITED:
        rows = _csv(export / f"{file}.csv")[0]
        buffer = io.StringIO()
        csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r").writerows(rows)
        before[file] = codecs.BOM_UTF16_BE + buffer.getvalue().encode("utf-16-be")
        (export / f"{file}.csv").write_bytes(before[file])
    edits = make_later_export(export, tmp_path / "later")
    assert edits.skipped == []
    for file in EDITED:
        after = (tmp_path / "later" / f"{file}.csv").read_bytes()
        assert after.startswith(codecs.BOM_UTF16_BE)
        old = before[file][2:].decode("utf-16-be").split("\r")
        new = after[2:].decode("utf-16-be").split("\r")
        assert "\n" not in "".join(new)
        assert all(line.startswith('"') and line.endswith('"') for line in new if line)
        touched = {*edits.changed.get(file, []), *edits.deleted.get(file, [])}
        added = len(edits.added.get(file, []))
        assert len(new) == len(old) + added
        differing = [o for o, n in zip(old, new, strict=False) if o != n]
        # only the edited records changed, plus the old last (empty) line where rows were added
        assert len(differing) == len(touched) + (1 if added else 0), file
