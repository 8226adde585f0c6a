"""An export that went through a spreadsheet or pandas before it reached us migrates exactly as
the export it came from: ID columns saved as decimals (``1001.0``), a footer line under the
rows, one file saved semicolon-separated (Excel where the decimal mark is a comma), one saved as
Excel's "Unicode Text" (UTF-16, tab-separated).

Two migrations of the same generated export, the original and the saved copy, each into its own
sandbox: every file's counts are the same (the footer is one more rejected row, with its
reason), and the check against the saved copy's own files finds no more lost values than the
check of the original finds in its files.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from flitstack.engine.state import StateStore
from flitstack.mapping.workbook import load_workbook
from flitstack.source.generator import generate_export
from tests.engine.test_source_truth_gate import SETTINGS, _migrate_and_verify, _rewrite

#: the reference columns of appointments.csv a spreadsheet turns into decimals
_DECIMAL_COLUMNS = ("PatientID", "ProviderID", "HygienistID", "LocationID")


def _save_as(path: Path, encoding: str, delimiter: str) -> int:
    """Write a CSV of the export back with another separator (and encoding, BOM included)."""
    with path.open(encoding="utf-8-sig", newline="", errors="surrogateescape") as fh:
        rows = list(csv.reader(fh))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(("\ufeff" + buffer.getvalue()).encode(encoding, errors="surrogateescape"))
    return len(rows) - 1


def _through_a_spreadsheet(export: Path) -> dict[str, int]:
    changed: dict[str, int] = {}

    def decimals_and_a_footer(rows: list[list[str]]) -> None:
        head = rows[0]
        for name in _DECIMAL_COLUMNS:
            at = head.index(name)
            for row in rows[1:]:
                if len(row) == len(head) and row[at].strip().isdigit():
                    row[at] = f"{row[at].strip()}.0"
                    changed[name] = changed.get(name, 0) + 1
        rows.append([f"Total rows: {len(rows) - 1}"])

    _rewrite(export / "appointments.csv", decimals_and_a_footer)
    changed["recalls"] = _save_as(export / "recalls.csv", "utf-8", ";")
    changed["referrals"] = _save_as(export / "referrals.csv", "utf-16-le", "\t")
    return changed


def test_an_export_saved_through_a_spreadsheet_migrates_as_the_original(tmp_path: Path) -> None:
    original = tmp_path / "original"
    generate_export(original, 20, seed=8)
    saved = tmp_path / "saved"
    shutil.copytree(original, saved)
    changed = _through_a_spreadsheet(saved)
    assert all(changed.get(name, 0) > 5 for name in ("PatientID", "ProviderID", "LocationID"))
    assert changed["recalls"] > 5 and changed["referrals"] > 0

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before, before_report, _ = _migrate_and_verify(original, tmp_path / "a")
    after, after_report, state = _migrate_and_verify(saved, tmp_path / "b")

    assert after.unaccounted() == {}
    for counts in ("migrated", "merged", "skipped"):
        assert getattr(after, counts) == getattr(before, counts), counts
    footer = before.rejected.copy()
    footer["appointments"] += 1
    assert after.rejected == footer
    noted = [
        o for o in state.outcomes() if o["file"] == "appointments" and o["outcome"] == "rejected"
    ]
    assert any(o["reason"] == "row has 1 fields but the header has 14" for o in noted)

    # each value checked against the files it came from: the decimals read as the IDs they are
    assert before_report.truth is not None and after_report.truth is not None
    lost_before = {(c.file, c.column): c.lost for c in before_report.truth.columns}
    lost_after = {(c.file, c.column): c.lost for c in after_report.truth.columns}
    assert lost_after == lost_before
    checked = {(c.file, c.column): c.non_empty for c in after_report.truth.columns}
    for name in _DECIMAL_COLUMNS:
        if ("appointments", name) in checked:
            assert checked[("appointments", name)] > 0, name
    assert after_report.differences == [] and after_report.missing == []


_SLASH = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})(.*)$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(.*)$")


def _day_first(export: Path) -> int:
    """Every date of every file written day first (25/03/2024), ISO ones too (not the
    sentinels that mean no date); how many cells changed."""
    changed = 0
    for path in sorted(export.glob("*.csv")):
        raw = path.read_bytes()
        encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            encoding, text = "cp1252", raw.decode("cp1252")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        for row in rows[1:]:
            for i, cell in enumerate(row):
                slash, iso = _SLASH.match(cell.strip()), _ISO.match(cell.strip())
                if slash is not None:
                    row[i] = f"{slash[2]}/{slash[1]}/{slash[3]}{slash[4]}"
                elif iso is not None and iso[1] not in ("0000", "1900") and "T" not in iso[4]:
                    row[i] = f"{iso[3]}/{iso[2]}/{iso[1]}{iso[4]}"
                else:
                    continue
                changed += 1
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        path.write_bytes(buffer.getvalue().encode(encoding))
    return changed


#: fields that hold IDs Pipedrive gave (their order of creation may differ run to run)
_LINKS = {"person_id", "org_id", "deal_id", "owner_id", "user_id", "pipeline_id", "stage_id",
          "primary_insurance__c", "secondary_insurance__c", "tertiary_insurance__c"}  # fmt: skip


def test_an_export_that_writes_dates_day_first_migrates_as_the_original(tmp_path: Path) -> None:
    """The proposal reads the export's own dates (25/03/2024 has no month 25) and proposes
    ``date_order: day-first``; confirmed, every date arrives as in the month-first original: the
    same records with the same values, no value lost that the original did not lose."""
    original = tmp_path / "original"
    generate_export(original, 20, seed=10)
    saved = tmp_path / "saved"
    shutil.copytree(original, saved)
    assert _day_first(saved) > 100
    cleanings: dict[str, str] = {}  # a column the format does not know, of day-first dates

    def last_cleaning(rows: list[list[str]]) -> None:
        rows[0].append("Last Cleaning")
        for n, row in enumerate(rows[1:]):
            row.append(f"{n % 28 + 1:02d}/{n % 12 + 1:02d}/2023")
            cleanings[row[0]] = f"2023-{n % 12 + 1:02d}-{n % 28 + 1:02d}"

    _rewrite(saved / "patients.csv", last_cleaning)

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before, before_report, _ = _migrate_and_verify(original, tmp_path / "a")
    after, after_report, _ = _migrate_and_verify(saved, tmp_path / "b")
    assert load_workbook(tmp_path / "b" / "map.yaml").date_order == "day-first"
    assert load_workbook(tmp_path / "a" / "map.yaml").date_order == "month-first"

    for counts in ("migrated", "merged", "rejected", "skipped"):
        assert getattr(after, counts) == getattr(before, counts), counts
    assert before_report.truth is not None and after_report.truth is not None
    lost_before = {(c.file, c.column): c.lost for c in before_report.truth.columns}
    lost_after = {(c.file, c.column): c.lost for c in after_report.truth.columns}
    assert lost_after.pop(("patients", "Last Cleaning")) == 0  # checked, none lost
    assert lost_after == lost_before

    def values(report: Any) -> dict[tuple[str, str], Any]:
        return {(c.key, c.field): c.expected for c in report.checks if c.field not in _LINKS}

    expected = values(before_report)
    assert len(expected) > 500
    got = values(after_report)
    cleaned = {k[0].split(":")[1]: got.pop(k) for k in list(got) if k[1] == "last_cleaning__c"}
    assert got == expected
    wb = load_workbook(tmp_path / "b" / "map.yaml")
    column = wb.column_map("patients", "Last Cleaning")
    assert column is not None and column.custom is not None
    assert (column.custom.field_type, column.transform) == ("date", "date")
    assert len(cleaned) > 10 and all(cleanings[pid] == day for pid, day in cleaned.items())
    dated = [k for k, value in expected.items() if isinstance(value, str) and _ISO.match(value)]
    assert len(dated) > 50  # dates were compared, not only names


def test_rows_of_a_file_mdc_does_not_write_are_skipped_with_their_reason(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 20, seed=11)
    (export / "visit_codes.csv").write_text('Code,Meaning\nA1,Walk-in\nB2,"Phone, after hours"\n')
    summary, _report, state = _migrate_and_verify(export, tmp_path)
    assert summary.unaccounted() == {}
    assert summary.skipped["visit_codes"] == 2
    noted = [(o["line"], o["outcome"], o["reason"]) for o in state.outcomes()
             if o["file"] == "visit_codes"]  # fmt: skip
    why = "not a file of the MDC format (visit_codes.csv): its rows are not migrated"
    assert noted == [(2, "skipped", why), (3, "skipped", why)]


def test_a_file_split_in_parts_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    from flitstack.source.reader import ExportError

    export = tmp_path / "export"
    generate_export(export, 20, seed=11)
    lines = (export / "appointments.csv").read_bytes().splitlines(keepends=True)
    (export / "appointments_2023.csv").write_bytes(lines[0] + b"".join(lines[1:10]))
    (export / "appointments.csv").write_bytes(lines[0] + b"".join(lines[10:]))
    refused = re.escape("appointments_2023.csv looks like a part of appointments.csv")
    with pytest.raises(ExportError, match=refused):
        _migrate_and_verify(export, tmp_path)
    assert StateStore(tmp_path / "s.sqlite").mapped_keys() == []  # nothing was written


def test_ids_saved_as_decimals_are_still_proposed_as_ids(tmp_path: Path) -> None:
    """A renamed ID column whose values a spreadsheet saved as decimals (``Patient #`` holding
    ``1001.0``) is placed as the ID it is, as when it holds ``1001`` (it was proposed as the
    middle initial of a file that had none)."""
    from flitstack.mapping.propose import propose_map
    from flitstack.source.audit import classify

    assert classify("1001.0") == "int" and classify("12.50") == "decimal"
    export = tmp_path / "export"
    generate_export(export, 20, seed=12)

    def rename_and_decimals(rows: list[list[str]]) -> None:
        at = rows[0].index("PatientID")
        rows[0][at] = "Patient #"
        for row in rows[1:]:
            if len(row) > at and row[at].strip().isdigit():
                row[at] = f"{row[at].strip()}.0"

    def without_middle_initials(rows: list[list[str]]) -> None:
        at = rows[0].index("MiddleInitial")
        for row in rows:
            del row[at : at + 1]

    for file in ("patients", "appointments"):
        _rewrite(export / f"{file}.csv", rename_and_decimals)
    _rewrite(export / "patients.csv", without_middle_initials)
    wb = propose_map(export, SETTINGS)
    for file in ("patients", "appointments"):
        column = wb.column_map(file, "Patient #")
        assert column is not None and column.role == "PatientID", (file, column)


def test_dates_with_month_names_migrate_as_the_original(tmp_path: Path) -> None:
    """Birth dates written ``01-Jan-1980`` and appointment starts ``Jan 01, 2023 10:15 AM`` (a
    spreadsheet's display formats) arrive as the days and times they are."""
    from datetime import datetime

    original = tmp_path / "original"
    generate_export(original, 20, seed=13)
    saved = tmp_path / "saved"
    shutil.copytree(original, saved)
    forms = {"patients": ("DateOfBirth", "%d-%b-%Y"),
             "appointments": ("StartDateTime", "%b %d, %Y %I:%M %p")}  # fmt: skip
    changed = 0
    for file, (name, form) in forms.items():

        def named(rows: list[list[str]], name: str = name, form: str = form) -> None:
            nonlocal changed
            at = rows[0].index(name)
            for row in rows[1:]:
                for read in ("%Y-%m-%d %H:%M", "%Y-%m-%d", "%m/%d/%Y %I:%M %p", "%m/%d/%Y"):
                    try:
                        when = datetime.strptime(row[at].strip(), read)
                    except (ValueError, IndexError):
                        continue
                    if when.year > 1900:
                        row[at], changed = when.strftime(form), changed + 1
                    break

        _rewrite(saved / f"{file}.csv", named)
    assert changed > 50
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before, before_report, _ = _migrate_and_verify(original, tmp_path / "a")
    after, after_report, _ = _migrate_and_verify(saved, tmp_path / "b")
    for counts in ("migrated", "merged", "rejected", "skipped"):
        assert getattr(after, counts) == getattr(before, counts), counts
    assert before_report.truth is not None and after_report.truth is not None
    lost = {(c.file, c.column): c.lost for c in before_report.truth.columns}
    assert {(c.file, c.column): c.lost for c in after_report.truth.columns} == lost

    def values(report: Any) -> dict[tuple[str, str], Any]:
        return {(c.key, c.field): c.expected for c in report.checks
                if c.field not in _LINKS and c.object != "files"}  # fmt: skip

    assert values(after_report) == values(before_report)
