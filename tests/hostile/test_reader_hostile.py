"""Hostile and broken exports on real files: every encoding an export may come in, binary files
posing as CSV, control characters, short rows and impossible dates. Each ends as a typed row, a
reject with its reason, or one clear line naming the file, never a traceback or half a value."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flitstack.settings import Settings
from flitstack.source.audit import audit_export
from flitstack.source.reader import (
    ExportError,
    ReadStats,
    Reject,
    Row,
    detect_encoding,
    open_export,
)
from flitstack.source.values import strip_or_none
from flitstack.transform.outcome import TransformContext
from flitstack.transform.registry import apply

HEADER = "PatientID,FirstName,LastName,DateOfBirth,Status,GuarantorID,CreatedAt"
NAMES = "1,José,Ångström,1980-02-03,Active,,2024-03-05 14:30\n2,Zoë,O’Brien,,Active,1,\n"

#: (label, BOM, codec of the text after it, the encoding the reader reports)
BOM_ENCODINGS = [
    ("utf-8-sig", codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
    ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
    ("utf-32-le", codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"),
    ("utf-32-be", codecs.BOM_UTF32_BE, "utf-32-be", "utf-32"),
]
#: the bytes of a real 1×1 PNG image
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c626001000000ffff03000006000557"
    "bfabd40000000049454e44ae426082"
)


def write_bytes(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def read(folder: Path, name: str = "patients") -> tuple[list[Row], list[Reject], ReadStats]:
    export = open_export(folder)
    got = list(export.read(name))
    rows = [r for r in got if isinstance(r, Row)]
    rejects = [r for r in got if isinstance(r, Reject)]
    return rows, rejects, export.stats[name]


# --- encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bom", "codec", "reported"),
    [case[1:] for case in BOM_ENCODINGS],
    ids=[case[0] for case in BOM_ENCODINGS],
)
def test_bom_encodings_read_with_correct_headers(
    tmp_path: Path, bom: bytes, codec: str, reported: str
) -> None:
    text = f"{HEADER}\r\n{NAMES}".replace("\n", "\r\n").replace("\r\r", "\r")
    write_bytes(tmp_path, "patients.csv", bom + text.encode(codec))
    export = open_export(tmp_path)
    assert export.columns("patients") == HEADER.split(",")
    rows, rejects, stats = read(tmp_path)
    assert rejects == []
    assert [(r.values["FirstName"], r.values["LastName"]) for r in rows] == [
        ("José", "Ångström"),
        ("Zoë", "O’Brien"),
    ]
    assert rows[0].values["PatientID"] == "1"  # no BOM left glued to the first header
    assert rows[0].values["DateOfBirth"] == date(1980, 2, 3)
    assert rows[1].values["GuarantorID"] == "1"
    assert stats.encoding == reported
    assert all(r.problems == [] for r in rows)


def test_utf32_le_bom_is_not_taken_for_utf16(tmp_path: Path) -> None:
    """UTF-32-LE's BOM (FF FE 00 00) starts with UTF-16-LE's (FF FE)."""
    path = write_bytes(
        tmp_path, "patients.csv", codecs.BOM_UTF32_LE + f"{HEADER}\n".encode("utf-32-le")
    )
    assert detect_encoding(lambda: path.open("rb")) == "utf-32"


def test_windows_1252_text_is_decoded(tmp_path: Path) -> None:
    write_bytes(tmp_path, "patients.csv", f"{HEADER}\n{NAMES}".encode("cp1252", "replace"))
    rows, rejects, stats = read(tmp_path)
    assert rejects == []
    assert rows[1].values["LastName"] == "O’Brien"
    assert rows[0].values["FirstName"] == "José"
    assert stats.encoding == "cp1252"


def test_legacy_bytes_far_into_a_utf8_looking_file_are_still_cp1252(tmp_path: Path) -> None:
    ascii_rows = "".join(f"{n},Ann,Lee,,Active,,\n" for n in range(3, 20_000))
    data = f"{HEADER}\n{ascii_rows}".encode() + "99,Renée,Müller,,Active,,\n".encode("cp1252")
    write_bytes(tmp_path, "patients.csv", data)
    rows, _, stats = read(tmp_path)
    assert stats.encoding == "cp1252"
    assert (rows[-1].values["FirstName"], rows[-1].values["LastName"]) == ("Renée", "Müller")


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("png", PNG),
        ("png-with-body", PNG + bytes(range(256)) * 40),
        ("utf-16 without a BOM", f"{HEADER}\n{NAMES}".encode("utf-16-le")),
        ("nul bytes", b"\x00" * 4096),
    ],
)
def test_binary_file_is_one_clear_line_naming_it(tmp_path: Path, label: str, data: bytes) -> None:
    write_bytes(tmp_path, "patients.csv", data)
    export = open_export(tmp_path)
    assert export.csv_files() == ["patients"]
    with pytest.raises(ExportError) as caught:
        list(export.read("patients"))
    message = str(caught.value)
    assert message == "patients.csv: not a CSV (binary content)"
    assert "\n" not in message
    with pytest.raises(ExportError, match=r"^patients\.csv: not a CSV \(binary content\)$"):
        open_export(tmp_path).columns("patients")


def test_binary_file_inside_a_zip_is_named(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("patients.csv", f"{HEADER}\n{NAMES}")
        zf.writestr("providers.csv", PNG)
    export = open_export(archive)
    assert len(list(export.read("patients"))) == 2
    with pytest.raises(ExportError, match=r"^providers\.csv: not a CSV \(binary content\)$"):
        list(export.read("providers"))


def test_audit_of_a_binary_file_is_the_same_one_line_error(tmp_path: Path) -> None:
    write_bytes(tmp_path, "patients.csv", f"{HEADER}\n{NAMES}".encode())
    write_bytes(tmp_path, "appointments.csv", PNG)
    with (
        open_export(tmp_path) as export,
        pytest.raises(ExportError, match=r"^appointments\.csv: not a CSV \(binary content\)$"),
    ):
        audit_export(export, Settings())


# --- control characters -----------------------------------------------------------------------


def test_nul_in_a_name_is_stripped_with_a_counted_problem(tmp_path: Path) -> None:
    body = f"{HEADER}\n1,A\x00nn,L\x1bee,,Active,,\n2,Bob,Tab\tOK,,Active,,\n"
    write_bytes(tmp_path, "patients.csv", body.encode())
    rows, rejects, stats = read(tmp_path)
    assert rejects == []
    assert (rows[0].values["FirstName"], rows[0].values["LastName"]) == ("Ann", "Lee")
    assert rows[0].raw["FirstName"] == "Ann"  # transforms read raw: no NUL reaches Pipedrive
    got = [(p.column, p.kind, p.line, p.value) for p in rows[0].problems]
    assert got == [
        ("FirstName", "control_characters", 2, "A\u2400nn"),
        ("LastName", "control_characters", 2, "L\u241bee"),
    ]
    assert "control characters" in rows[0].problems[0].message
    assert rows[1].problems == [] and rows[1].values["LastName"] == "Tab\tOK"
    assert stats.problems == 2
    with open_export(tmp_path) as export:
        report = audit_export(export, Settings())
    assert report.problem_totals()["control_characters"] == 2


@pytest.mark.parametrize(
    ("line", "reason", "column"),
    [
        ("1\x00,Ann,Lee,,Active,,", "ID PatientID contains a control character (NUL)", "PatientID"),
        ("\x001,Ann,Lee,,Active,,", "ID PatientID contains a control character (NUL)", "PatientID"),
        (
            "2,Ann,Lee,,Active,1\x07,",
            "reference GuarantorID contains a control character (BEL)",
            "GuarantorID",
        ),
    ],
)
def test_control_character_in_an_id_or_reference_rejects_the_row(
    tmp_path: Path, line: str, reason: str, column: str
) -> None:
    write_bytes(tmp_path, "patients.csv", f"{HEADER}\n{line}\n3,Cy,Ng,,Active,,\n".encode())
    rows, rejects, stats = read(tmp_path)
    assert [(r.line, r.column, r.reason) for r in rejects] == [(2, column, reason)]
    assert "\x00" not in str(rejects[0].raw) and "\x07" not in str(rejects[0].raw)
    assert [r.values["PatientID"] for r in rows] == ["3"]
    assert (stats.rows_read, stats.rows_yielded, stats.rows_rejected) == (2, 1, 1)


def test_nul_in_a_child_files_parent_reference_rejects_the_row(tmp_path: Path) -> None:
    text = "AppointmentID,PatientID,Status\nA1,7\x00,Scheduled\nA2,7,Scheduled\n"
    write_bytes(tmp_path, "appointments.csv", text.encode())
    rows, rejects, _ = read(tmp_path, "appointments")
    assert [r.reason for r in rejects] == ["reference PatientID contains a control character (NUL)"]
    assert [r.source_id for r in rows] == ["A2"]


def test_nul_in_a_cp1252_file_does_not_make_it_unreadable(tmp_path: Path) -> None:
    body = f"{HEADER}\n1,Ren\x00ée,Lee,,Active,,\n2,Ann,Lee,,Active,,\n"
    write_bytes(tmp_path, "patients.csv", body.encode("cp1252"))
    rows, rejects, stats = read(tmp_path)
    assert rejects == [] and stats.encoding == "cp1252"
    assert rows[0].values["FirstName"] == "Renée"
    assert [p.kind for p in rows[0].problems] == ["control_characters"]


# --- short and long rows ----------------------------------------------------------------------


def test_short_row_is_rejected_never_padded(tmp_path: Path) -> None:
    body = f"{HEADER}\n1,Ann,Lee,,Active,,\n2,Bob\n3,Cy,Ng,,Active,,,extra\n4,Di,Ho,,Active,,\n"
    write_bytes(tmp_path, "patients.csv", body.encode())
    rows, rejects, stats = read(tmp_path)
    assert [r.values["PatientID"] for r in rows] == ["1", "4"]
    assert [(r.line, r.column, r.reason) for r in rejects] == [
        (3, None, "row has 2 fields but the header has 7"),
        (4, None, "row has 8 fields but the header has 7"),
    ]
    assert rejects[0].raw == ["2", "Bob"]
    assert (stats.rows_read, stats.rows_yielded, stats.rows_rejected) == (4, 2, 2)
    assert all(p.kind != "short_row" for r in rows for p in r.problems)
    with open_export(tmp_path) as export:
        report = audit_export(export, Settings())
    assert [(r.line, r.reason) for r in report.rejects if r.file == "patients"] == [
        (3, "row has 2 fields but the header has 7"),
        (4, "row has 8 fields but the header has 7"),
    ]


# --- impossible dates and times ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "created"),
    [
        ("9999-12-31 25:61", "9999-12-31 25:61"),
        ("2024-02-30 10:00", "2024-02-30 10:00"),
        ("2024-02-30", "2024-02-30T10:00:00"),
        ("03/05/2024 24:30", "03/05/2024 13:00 PM"),
        ("2024-13-01", "2024-03-05 14:60"),
    ],
)
def test_impossible_date_times_are_flagged_never_half_parsed(
    tmp_path: Path, birth: str, created: str
) -> None:
    write_bytes(
        tmp_path, "patients.csv", f"{HEADER}\n1,Ann,Lee,{birth},Active,,{created}\n".encode()
    )
    rows, rejects, _ = read(tmp_path)
    assert rejects == []
    values, problems = rows[0].values, rows[0].problems
    assert values["DateOfBirth"] is None and values["CreatedAt"] is None
    assert sorted((p.column, p.kind, p.value) for p in problems) == [
        ("CreatedAt", "bad_datetime", created),
        ("DateOfBirth", "bad_date", birth),
    ]
    ctx = TransformContext()
    assert not apply("date", birth, ctx).ok
    assert not apply("datetime", created, ctx).ok


def test_a_real_time_after_a_date_still_reads_as_the_date(tmp_path: Path) -> None:
    body = f"{HEADER}\n1,Ann,Lee,1980-02-03 00:00:00,Active,,\n2,Bo,Li,2/3/1980 11:59 PM,Active,,\n"
    write_bytes(tmp_path, "patients.csv", body.encode())
    rows, _, _ = read(tmp_path)
    assert [r.values["DateOfBirth"] for r in rows] == [date(1980, 2, 3)] * 2
    assert all(r.problems == [] for r in rows)


# --- properties -------------------------------------------------------------------------------

#: text a cell may hold: no surrogates, no C0 controls but tab, CR and LF
_CELL_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="".join(chr(c) for c in range(32) if chr(c) not in "\t\r\n"),
    ),
    max_size=40,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    case=st.sampled_from(BOM_ENCODINGS),
    first=_CELL_TEXT,
    last=_CELL_TEXT,
)
def test_any_text_in_any_bom_encoding_reads_back_equal(
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[str, bytes, str, str],
    first: str,
    last: str,
) -> None:
    _, bom, codec, reported = case
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["PatientID", "FirstName", "LastName"])
    writer.writerow(["1", first, last])
    folder = tmp_path_factory.mktemp("bom")
    write_bytes(folder, "patients.csv", bom + buffer.getvalue().encode(codec))
    rows, rejects, stats = read(folder)
    assert rejects == [] and len(rows) == 1
    assert rows[0].values["FirstName"] == strip_or_none(first)
    assert rows[0].values["LastName"] == strip_or_none(last)
    assert rows[0].problems == []
    assert stats.encoding == reported


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=600), prefix=st.sampled_from([b"", HEADER.encode() + b"\n"]))
def test_any_bytes_read_as_rows_and_rejects_or_one_clear_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, prefix: bytes
) -> None:
    """Whatever the bytes, every record is accounted for, or the file is refused in one line."""
    folder = tmp_path_factory.mktemp("bytes")
    write_bytes(folder, "patients.csv", prefix + data)
    export = open_export(folder)
    try:
        got = list(export.read("patients"))
    except ExportError as exc:
        assert str(exc).startswith("patients.csv")
        assert "\n" not in str(exc)
        return
    stats = export.stats["patients"]
    assert stats.rows_read == stats.rows_yielded + stats.rows_rejected == len(got)
    for item in got:
        if isinstance(item, Row):
            assert all("\x00" not in str(v) for v in [*item.values.values(), *item.raw.values()])


def test_a_reject_names_the_column_by_the_exports_own_header(tmp_path: Path) -> None:
    """Read through a confirmed map whose headers are not MDC's: a reject's reason names the
    column as the file does (and the role it stands for), so the row can be found and fixed."""
    from flitstack.mapping.roles import Bindings
    from flitstack.mapping.workbook import ColumnMap

    header = "Patient #,Given Name,Surname,Record Status,Guarantor"
    roles = ["PatientID", "FirstName", "LastName", "Status", "GuarantorID"]
    bindings = Bindings.from_columns(
        ColumnMap(file="patients", column=h, role=r)
        for h, r in zip(header.split(","), roles, strict=True)
    )
    rows = ",Ann,Lee,Active,\n7\x00,Bo,Ek,Active,\n8,Cy,Ng,Active,9\x07\n9,Di,Ro,Active,\n"
    write_bytes(tmp_path, "patients.csv", f"{header}\n{rows}".encode())
    with open_export(tmp_path, bindings) as export:
        got = list(export.read("patients"))
    rejects = [r for r in got if isinstance(r, Reject)]
    assert [(r.line, r.column, r.reason) for r in rejects] == [
        (2, "PatientID", "required value Patient # (PatientID) is missing"),
        (3, "PatientID", "ID Patient # (PatientID) contains a control character (NUL)"),
        (4, "GuarantorID",
         "reference Guarantor (GuarantorID) contains a control character (BEL)"),
    ]  # fmt: skip
    assert [r.source_id for r in got if isinstance(r, Row)] == ["9"]
