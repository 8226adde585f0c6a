"""The export generator: deterministic bytes, every file of FORMAT.md, real documents, an exact
record of the injected mess, families with one guarantor and ledgers that add up."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from flitstack.source.generator import INJECTIONS_FILE, GenerationResult, generate_export
from flitstack.source.mess import MessKind, MessRates
from flitstack.source.reader import Row, open_export
from flitstack.source.schema import FILES

_REPO = Path(__file__).resolve().parents[2]
#: the format spec beside the repository when there is one, else the copy kept in docs/
FORMAT_MD = next(
    p
    for p in (
        _REPO / ".." / "shared" / "mdc-export" / "FORMAT.md",
        _REPO / "docs" / "mdc-export-format.md",
    )
    if p.exists()
)
PATIENTS = 120


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder (documents and dotfiles included) by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def typed_rows(folder: Path, name: str) -> list[Row]:
    return [r for r in open_export(folder).read(name) if isinstance(r, Row)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationResult]:
    out = tmp_path_factory.mktemp("gen") / "export"
    return out, generate_export(out, PATIENTS, seed=7)


@pytest.fixture(scope="module")
def export_dir(generated: tuple[Path, GenerationResult]) -> Path:
    return generated[0]


@pytest.fixture(scope="module")
def injected(export_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((export_dir / INJECTIONS_FILE).read_text())
    return data


def test_same_seed_gives_byte_identical_files(
    export_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = tmp_path_factory.mktemp("gen-again") / "export"
    generate_export(again, PATIENTS, seed=7)
    first, second = snapshot(export_dir), snapshot(again)
    assert list(first) == list(second)
    assert [name for name in first if first[name] != second[name]] == []


def test_different_seed_gives_different_data(
    export_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("gen-other") / "export"
    generate_export(other, PATIENTS, seed=8)
    for name in ("patients.csv", "appointments.csv", "ledger_entries.csv"):
        assert (other / name).read_bytes() != (export_dir / name).read_bytes(), name


def test_every_file_of_the_format_is_written(export_dir: Path) -> None:
    layout = FORMAT_MD.read_text().split("## Files and columns")[0]
    documented = set(re.findall(r"^\s+(\w+)\.csv", layout, flags=re.MULTILINE))
    assert len(documented) == 17 and documented == set(FILES)
    written = {p.stem for p in export_dir.glob("*.csv")}
    assert written == documented
    manifest = json.loads((export_dir / "export.json").read_text())
    assert set(manifest) == {
        "source",
        "version",
        "exported_at",
        "timezone",
        "currency",
        "tooth_numbering",
    }
    export = open_export(export_dir)
    assert export.manifest.present and export.manifest.timezone == manifest["timezone"]
    for name, spec in FILES.items():
        assert export.columns(name) == list(spec.column_names), name


def test_row_counts_match_what_the_reader_reads(
    generated: tuple[Path, GenerationResult], injected: dict[str, Any]
) -> None:
    folder, result = generated
    export = open_export(folder)
    for name in FILES:
        list(export.read(name))
        stats = export.stats[name]
        rejected = injected["rejected_rows"].get(name, 0)
        assert stats.rows_read == result.rows.get(name, 0) + rejected, name
        assert stats.rows_rejected == rejected, name
    assert result.rows["patients"] == PATIENTS + injected["counts"].get(
        MessKind.DUPLICATE_PATIENT, 0
    )


def test_documents_are_real_files_except_the_injected_missing_ones(
    export_dir: Path, injected: dict[str, Any]
) -> None:
    magic = {"image/png": b"\x89PNG", "application/pdf": b"%PDF", "text/plain": b"Medical"}
    export = open_export(export_dir)
    missing = 0
    documents = typed_rows(export_dir, "documents")
    assert documents
    for row in documents:
        name = str(row.values["FileName"])
        if not export.document_exists(name):
            missing += 1
            continue
        assert export.open_document(name).startswith(magic[str(row.values["MimeType"])])
    assert missing == injected["counts"].get(MessKind.MISSING_DOCUMENT_FILE, 0)
    on_disk = [p for p in (export_dir / "documents").rglob("*") if p.is_file()]
    assert len(on_disk) == len(documents) - missing


def test_injection_record_states_seed_size_and_every_count(injected: dict[str, Any]) -> None:
    assert injected["seed"] == 7 and injected["patients"] == PATIENTS
    assert set(injected) == {"seed", "patients", "counts", "orphan_references", "rejected_rows"}
    assert all(isinstance(n, int) and n > 0 for n in injected["counts"].values())
    known = {k.value for k in MessKind} | {"patients_without_email"}
    assert set(injected["counts"]) <= known
    for where in injected["orphan_references"]:
        file, column = where.split(".")
        assert FILES[file].column(column) is not None


def test_a_clean_export_records_no_mess(tmp_path: Path) -> None:
    result = generate_export(tmp_path / "clean", 40, seed=2, mess=MessRates.clean())
    assert result.injected["counts"] == {}
    assert result.injected["orphan_references"] == {}
    assert result.injected["rejected_rows"] == {}


def _family(row: Row) -> tuple[str, str]:
    return (str(row.values["LastName"]), str(row.values["Address1"]))


def test_families_share_one_guarantor(export_dir: Path, injected: dict[str, Any]) -> None:
    patients = typed_rows(export_dir, "patients")
    family_of = {r.source_id: _family(r) for r in patients}
    in_family: dict[tuple[str, str], set[str]] = defaultdict(set)
    crossing = 0
    for row in patients:
        guarantor = str(row.values["GuarantorID"])
        assert guarantor in family_of, f"line {row.line}: guarantor {guarantor} is no patient"
        if family_of[guarantor] == _family(row):
            in_family[_family(row)].add(guarantor)
        else:
            crossing += 1
    assert crossing == injected["counts"].get(MessKind.GUARANTOR_OTHER_FAMILY, 0)
    assert all(len(guarantors) == 1 for guarantors in in_family.values())
    assert any(sum(1 for r in patients if _family(r) == family) > 1 for family in in_family), (
        "no family with more than one member"
    )
    # the guarantor of a family is one of its members and is their own guarantor
    by_id = {r.source_id: r for r in patients}
    for (guarantor,) in in_family.values():
        assert str(by_id[guarantor].values["GuarantorID"]) == guarantor


def test_ledgers_add_up(export_dir: Path) -> None:
    """Charges are positive and carry a CDT code; payments and write-offs are negative and never
    take a patient's running balance below zero; the ledger names the patient's guarantor."""
    guarantor_of = {
        r.source_id: str(r.values["GuarantorID"]) for r in typed_rows(export_dir, "patients")
    }
    balance: dict[str, Decimal] = defaultdict(Decimal)
    entries = typed_rows(export_dir, "ledger_entries")
    assert entries
    for row in entries:
        v = row.values
        patient, amount = str(v["PatientID"]), v["Amount"]
        assert isinstance(amount, Decimal), f"line {row.line}"
        if v["EntryType"] == "Charge":
            assert amount > 0 and v["CDTCode"], f"line {row.line}"
        else:
            assert amount < 0 and v["CDTCode"] is None, f"line {row.line}"
        balance[patient] += amount
        assert balance[patient] >= 0, f"line {row.line}: balance of {patient} below zero"
        assert str(v["GuarantorID"]) == guarantor_of[patient], f"line {row.line}"
    charged = sum(e.values["Amount"] for e in entries if e.values["EntryType"] == "Charge")
    assert sum(balance.values()) == charged + sum(
        e.values["Amount"] for e in entries if e.values["EntryType"] != "Charge"
    )


def test_encodings_and_newlines_vary_by_file(export_dir: Path) -> None:
    assert b"\r\n" in (export_dir / "patients.csv").read_bytes()[:4096]
    assert (export_dir / "clinical_notes.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"\r\n" not in (export_dir / "recalls.csv").read_bytes()


def test_zip_output_reads_like_the_folder(tmp_path: Path, export_dir: Path) -> None:
    result = generate_export(tmp_path / "export", PATIENTS, seed=7, zip=True)
    assert result.path == tmp_path / "export.zip" and not (tmp_path / "export").exists()
    assert (tmp_path / f"export.zip{INJECTIONS_FILE}").read_text() == (
        export_dir / INJECTIONS_FILE
    ).read_text()
    archive, folder = open_export(result.path), open_export(export_dir)
    assert archive.csv_files() == folder.csv_files()
    for name in ("patients", "documents"):
        assert [r.raw for r in archive.read(name) if isinstance(r, Row)] == [
            r.raw for r in folder.read(name) if isinstance(r, Row)
        ]
    assert archive.document_exists(
        next(str(r.values["FileName"]) for r in typed_rows(export_dir, "documents"))
    ) == folder.document_exists(
        next(str(r.values["FileName"]) for r in typed_rows(export_dir, "documents"))
    )


def test_bad_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_export(tmp_path / "x", 0)


def test_the_format_copy_in_docs_is_current() -> None:
    shared = _REPO / ".." / "shared" / "mdc-export" / "FORMAT.md"
    if not shared.exists():
        pytest.skip("no shared FORMAT.md beside this checkout")
    assert (_REPO / "docs" / "mdc-export-format.md").read_text() == shared.read_text()
