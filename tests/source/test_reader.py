"""The reader on real files: every kind of mess in FORMAT.md, zips, rejects and accounting."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flitstack.source.reader import ExportError, Reject, Row, open_export

HEADER = (
    "PatientID,FirstName,LastName,DateOfBirth,Email,MobilePhone,Status,MarketingOptIn,CreatedAt"
)


def write(folder: Path, name: str, text: str, encoding: str = "utf-8", newline: str = "\n") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.replace("\n", newline).encode(encoding))


def rows(export_dir: Path, name: str) -> tuple[list[Row], list[Reject]]:
    export = open_export(export_dir)
    got = list(export.read(name))
    return [r for r in got if isinstance(r, Row)], [r for r in got if isinstance(r, Reject)]


def test_windows_1252_file_is_detected_and_decoded(tmp_path: Path) -> None:
    write(tmp_path, "patients.csv", f"{HEADER}\n1,José,O’Brien,,,,Active,Y,\n", "cp1252")
    ok, _ = rows(tmp_path, "patients")
    assert ok[0].values["FirstName"] == "José"
    assert ok[0].values["LastName"] == "O’Brien"
    assert open_export(tmp_path).stats == {}  # stats appear only once read


def test_bom_and_crlf(tmp_path: Path) -> None:
    write(tmp_path, "patients.csv", f"\ufeff{HEADER}\n1,Ann,Lee,,,,Active,N,\n", newline="\r\n")
    export = open_export(tmp_path)
    got = list(export.read("patients"))
    assert isinstance(got[0], Row) and got[0].values["PatientID"] == "1"
    assert export.stats["patients"].encoding == "utf-8-sig"
    assert export.stats["patients"].newline == "\r\n"


def test_quoted_multiline_field_keeps_line_numbers(tmp_path: Path) -> None:
    text = 'NoteID,PatientID,Text\n1,7,"line one, with comma\nline two ""quoted"""\n2,7,plain\n'
    write(tmp_path, "clinical_notes.csv", text)
    ok, _ = rows(tmp_path, "clinical_notes")
    assert ok[0].values["Text"] == 'line one, with comma\nline two "quoted"'
    assert (ok[0].line, ok[1].line) == (2, 4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05", date(2024, 3, 5)),
        ("03/05/2024", date(2024, 3, 5)),
        ("3/5/24", date(2024, 3, 5)),
        ("0000-00-00", None),
        ("1900-01-01", None),
        ("01/01/0001", None),
        ("NULL", None),
    ],
)
def test_date_forms_and_sentinels(tmp_path: Path, text: str, expected: date | None) -> None:
    write(tmp_path, "patients.csv", f"{HEADER}\n1,A,B,{text},,,Active,,\n")
    ok, _ = rows(tmp_path, "patients")
    assert ok[0].values["DateOfBirth"] == expected
    assert ok[0].problems == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05 14:30", datetime(2024, 3, 5, 14, 30)),
        ("03/05/2024 2:30 PM", datetime(2024, 3, 5, 14, 30)),
        ("03/05/2024 12:05 AM", datetime(2024, 3, 5, 0, 5)),
        ("2024-03-05", datetime(2024, 3, 5)),
    ],
)
def test_datetime_forms(tmp_path: Path, text: str, expected: datetime) -> None:
    write(tmp_path, "patients.csv", f"{HEADER}\n1,A,B,,,,Active,,{text}\n")
    ok, _ = rows(tmp_path, "patients")
    assert ok[0].values["CreatedAt"] == expected


@pytest.mark.parametrize("null", ["", "NULL", "N/A", "none", "   "])
def test_null_spellings(tmp_path: Path, null: str) -> None:
    write(tmp_path, "patients.csv", f"{HEADER}\n1,A,{null},,{null},,Active,,\n")
    ok, _ = rows(tmp_path, "patients")
    assert ok[0].values["LastName"] is None and ok[0].values["Email"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Complete", "Completed"),
        ("COMPLETED", "Completed"),
        (" completed ", "Completed"),
        ("in progress", "InProgress"),
        ("InProgress", "InProgress"),
    ],
)
def test_enum_variants(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, "treatment_plans.csv", f"TreatmentPlanID,PatientID,Status\n1,2,{text}\n")
    ok, _ = rows(tmp_path, "treatment_plans")
    assert ok[0].values["Status"] == expected and ok[0].problems == []


def test_unknown_enum_value_is_kept_with_a_problem(tmp_path: Path) -> None:
    write(tmp_path, "treatment_plans.csv", "TreatmentPlanID,PatientID,Status\n1,2,Maybe Later\n")
    ok, _ = rows(tmp_path, "treatment_plans")
    assert ok[0].values["Status"] == "Maybe Later"
    assert [(p.column, p.kind, p.line) for p in ok[0].problems] == [("Status", "bad_enum", 2)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.5", Decimal("1234.5")),
        ('"$1,234.50"', Decimal("1234.50")),
        ("(45.00)", Decimal("-45.00")),
        ("-45", Decimal("-45")),
    ],
)
def test_money_forms(tmp_path: Path, text: str, expected: Decimal) -> None:
    write(tmp_path, "treatment_plans.csv", f"TreatmentPlanID,PatientID,TotalFee\n1,2,{text}\n")
    ok, _ = rows(tmp_path, "treatment_plans")
    assert ok[0].values["TotalFee"] == expected


def test_phones_emails_teeth_and_codes_are_checked(tmp_path: Path) -> None:
    write(
        tmp_path,
        "patients.csv",
        f"{HEADER}\n1,A,B,,JOHN.DOE@Example.COM ,(555) 123-4567 x12,Active,,\n"
        "2,A,B,,john doe@example,call me,Active,,\n",
    )
    ok, _ = rows(tmp_path, "patients")
    assert ok[0].problems == []
    assert ok[0].values["Email"] == "JOHN.DOE@Example.COM"
    assert {p.kind for p in ok[1].problems} == {"invalid_email", "junk_phone"}
    write(
        tmp_path,
        "treatment_plan_items.csv",
        "ItemID,TreatmentPlanID,CDTCode,Tooth,Surfaces\n"
        "1,1,D2740,#3,MOD\n2,1,d0120,2-5,\n3,1,,UR,\n4,1,,U,\n5,1,X99,99,MQ\n",
    )
    ok, _ = rows(tmp_path, "treatment_plan_items")
    assert [r.values["Tooth"] for r in ok[:4]] == ["3", "2-5", "UR", "U"]
    assert all(r.problems == [] for r in ok[:4])
    assert ok[1].values["CDTCode"] == "D0120"
    assert {p.kind for p in ok[4].problems} == {"bad_cdt", "invalid_tooth", "bad_surfaces"}


def test_unreadable_rows_become_rejects_with_line_and_reason(tmp_path: Path) -> None:
    text = (
        "TreatmentPlanID,PatientID,Status\n"
        "1,2,Accepted\n"
        "2,2,Accepted,extra\n"  # too many fields
        "3,,Accepted\n"  # required PatientID missing
        "4,2\n"  # too few fields: rejected, never padded
        '5,2,"never closed\n'
    )
    write(tmp_path, "treatment_plans.csv", text)
    export = open_export(tmp_path)
    got = list(export.read("treatment_plans"))
    rejects = [r for r in got if isinstance(r, Reject)]
    assert [(r.line, r.column) for r in rejects] == [
        (3, None),
        (4, "PatientID"),
        (5, None),
        (6, None),
    ]
    assert rejects[0].reason == "row has 4 fields but the header has 3"
    assert rejects[2].reason == "row has 2 fields but the header has 3"
    assert rejects[2].raw == ["4", "2"]
    stats = export.stats["treatment_plans"]
    assert (stats.rows_read, stats.rows_yielded, stats.rows_rejected) == (5, 1, 4)


def test_a_quote_never_closed_that_takes_in_the_rows_after_it_is_an_error(tmp_path: Path) -> None:
    """The reader reaches the end of the file inside the quote: the rows after it are in that
    one field, and they must not pass as one unreadable record."""
    text = (
        "TreatmentPlanID,PatientID,Status\n"
        "1,2,Accepted\n"
        '2,"2,Accepted\n'  # line 3: the quote is never closed
        "3,2,Accepted\n"
        "4,2,Accepted\n"
    )
    write(tmp_path, "treatment_plans.csv", text)
    with pytest.raises(ExportError, match=r"treatment_plans.csv line 3: .* took in the 2 lines"):
        list(open_export(tmp_path).read("treatment_plans"))


def test_header_variants_and_unknown_columns(tmp_path: Path) -> None:
    write(tmp_path, "patients.csv", "patientid , FIRSTNAME,Chair Preference\n1,Ann,Window\n")
    ok, _ = rows(tmp_path, "patients")
    assert ok[0].values == {"PatientID": "1", "FirstName": "Ann", "Chair Preference": "Window"}
    assert ok[0].source_id == "1"


def test_duplicate_header_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path, "patients.csv", "PatientID,Email,email\n1,a,b\n")
    with pytest.raises(ExportError, match=r"patients.csv line 1: column 'Email' appears twice"):
        list(open_export(tmp_path).read("patients"))


def test_zip_with_top_level_folder_and_documents(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("mdc/patients.csv", f"{HEADER}\n1,Ann,Lee,,,,Active,,\n")
        zf.writestr("mdc/export.json", '{"timezone": "America/Chicago", "currency": "USD"}')
        zf.writestr("mdc/documents/1/xray.png", b"\x89PNG")
    export = open_export(archive)
    assert export.csv_files() == ["patients"]
    assert export.manifest.timezone == "America/Chicago" and export.manifest.present
    assert export.document_exists("1/xray.png") and not export.document_exists("1/gone.png")
    assert export.open_document("1/xray.png") == b"\x89PNG"
    assert [r.values["FirstName"] for r in export.read("patients") if isinstance(r, Row)] == ["Ann"]


def test_manifest_absent_and_malformed(tmp_path: Path) -> None:
    write(tmp_path, "patients.csv", f"{HEADER}\n")
    assert open_export(tmp_path).manifest.present is False
    assert open_export(tmp_path).manifest.timezone == "UTC"
    (tmp_path / "export.json").write_text("{not json")
    with pytest.raises(ExportError, match=r"export\.json"):
        open_export(tmp_path)


def test_missing_export_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such export"):
        open_export(tmp_path / "nope")


def test_missing_file_reads_as_empty(tmp_path: Path) -> None:
    write(tmp_path, "patients.csv", f"{HEADER}\n")
    assert list(open_export(tmp_path).read("lab_cases")) == []


cells = st.text(alphabet=st.sampled_from(list('ab,"\n\r 1x')), max_size=12)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.lists(st.lists(cells, min_size=1, max_size=5), max_size=12))
def test_accounting_holds_for_any_file(tmp_path: Path, body: list[list[str]]) -> None:
    lines = ["TreatmentPlanID,PatientID,Status"] + [",".join(r) for r in body]
    write(tmp_path, "treatment_plans.csv", "\n".join(lines) + "\n")
    export = open_export(tmp_path)
    try:
        got = list(export.read("treatment_plans"))
    except ExportError as exc:  # a record that cannot be read with rows after it: refused
        assert "treatment_plans.csv line" in str(exc) and "\n" not in str(exc)
        return
    stats = export.stats["treatment_plans"]
    assert stats.rows_read == stats.rows_yielded + stats.rows_rejected
    assert len(got) == stats.rows_read
    assert all(item.line >= 2 for item in got)
    assert [i.line for i in got] == sorted(i.line for i in got)


def test_line_numbers_count_lines_inside_records_and_blank_lines(tmp_path: Path) -> None:
    """Records over several lines (any newline inside quotes), blank lines between them and an
    unreadable last record: every line named is the line the record starts on."""
    text = (
        "Code,Label\r\n"
        'a,"two\nlines"\r\n'  # lines 2-3
        "\r\n"  # line 4: blank, no record
        'b,"cr\rand crlf\r\ninside"\r\n'  # lines 5-7
        "c,plain\r\n"  # line 8
        "   \r\n"  # line 9: spaces only, no record
        'd,"never closed\r\n'  # line 10
    )
    (tmp_path / "extras.csv").write_bytes(text.encode())
    got = list(open_export(tmp_path).read("extras"))
    assert [(type(r).__name__, r.line) for r in got] == [
        ("Row", 2),
        ("Row", 5),
        ("Row", 8),
        ("Reject", 10),
    ]
    assert got[1].values["Label"] == "cr\rand crlf\r\ninside"


# --- what a spreadsheet saves: other separators, IDs as decimals -------------------------------

_NAME = st.text(st.characters(blacklist_characters=',;\t|"\r\n\x00'), min_size=1, max_size=12)


@given(
    names=st.lists(_NAME, min_size=2, max_size=8), delimiter=st.sampled_from([",", ";", "\t", "|"])
)
def test_the_separator_is_the_one_that_separates_the_header(
    names: list[str], delimiter: str
) -> None:
    from flitstack.source.reader import detect_delimiter

    assert detect_delimiter(delimiter.join(names) + "\r\n") == delimiter


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"Name, first";"Name, last";ID\n', ";"),  # commas inside quotes do not count
        ("PatientID\n", ","),  # one column: the format's comma
        ("A;B,C,D\n", ","),
        ("A\tB\tC,D\n", "\t"),
    ],
)
def test_the_separator_of_a_header(line: str, expected: str) -> None:
    from flitstack.source.reader import detect_delimiter

    assert detect_delimiter(line) == expected


@pytest.mark.parametrize(
    ("encoding", "delimiter", "shown"),
    [("utf-8", ";", ";"), ("utf-16", "\t", "tab"), ("cp1252", "|", "|")],
)
def test_a_file_saved_with_another_separator_reads_as_the_comma_one(
    tmp_path: Path, encoding: str, delimiter: str, shown: str
) -> None:
    from flitstack.source.audit import audit_export

    text = f'{HEADER}\n1,José,"Lee, Jr",,,,Active,Y,\n2,Ann,Lee,,,,Active,N,\n'
    write(tmp_path / "comma", "patients.csv", text)
    other = text.replace(",", delimiter).replace(f'"Lee{delimiter} Jr"', '"Lee, Jr"')
    write(tmp_path / "other", "patients.csv", other, encoding)
    comma, _ = rows(tmp_path / "comma", "patients")
    saved, rejects = rows(tmp_path / "other", "patients")
    assert rejects == []
    assert [r.values for r in saved] == [r.values for r in comma]
    assert saved[0].values["LastName"] == "Lee, Jr"
    with open_export(tmp_path / "other") as export:
        assert export.columns("patients") == HEADER.split(",")
        assert audit_export(export).files[0].delimiter == shown


def test_an_id_saved_as_a_decimal_is_the_whole_number(tmp_path: Path) -> None:
    """``1001.0`` (a number column through a spreadsheet or pandas) is ID 1001 in the values and
    in the cells the run builds from; the audit still sees the text as written and counts it;
    a fraction is no whole number and stays as it is, and other columns are not touched."""
    write(
        tmp_path,
        "appointments.csv",
        "AppointmentID,PatientID,ProviderID,StartDateTime,Note\n"
        "1.0,1001.0, 6.00 ,2024-03-05 10:00,12.0\n"
        "2,1001.5,6,2024-03-05 11:00,\n",
    )
    export = open_export(tmp_path)
    (batch,) = list(export.read_batches("appointments"))
    at = batch.names.index("PatientID")
    assert batch.texts[at] == ["1001.0", "1001.5"]
    assert batch.values[at] == ["1001", "1001.5"]
    ok, _ = rows(tmp_path, "appointments")
    assert [r.source_id for r in ok] == ["1", "2"]
    assert ok[0].values["PatientID"] == ok[0].raw["PatientID"] == "1001"
    assert ok[0].raw["ProviderID"] == "6" and ok[0].values["Note"] == "12.0"
    assert ok[1].values["PatientID"] == "1001.5"
    kinds = sorted((p.column, p.value) for found in batch.problems.values() for p in found)
    assert kinds == [("AppointmentID", "1.0"), ("PatientID", "1001.0"), ("ProviderID", " 6.00 ")]


# --- dates written day first -------------------------------------------------------------------

_APPOINTMENTS = "AppointmentID,PatientID,StartDateTime,Status,Note\n"


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("25/03/2024", "day-first"),
        ("25/3/24 10:15", "day-first"),
        ("03/25/2024", "month-first"),
        ("3/25/2024T10:15", "month-first"),
        ("03/05/2024", None),  # reads either way
        ("13/13/2024", None),  # reads neither way
        ("2024-03-25", None),
        ("1/2 tablet", None),
    ],
)
def test_which_order_a_slash_date_can_only_be_read_in(text: str, order: str | None) -> None:
    from flitstack.source.values import slash_order

    assert slash_order(text) == order


def test_an_export_that_writes_dates_day_first_reads_as_the_month_first_one(
    tmp_path: Path,
) -> None:
    """With the map's ``date_order: day-first`` (its bindings carry it) date columns are read
    day first, and their cells handed on month first, as MDC writes them; ISO dates and text
    columns are as written."""
    from flitstack.mapping.roles import Bindings

    write(tmp_path / "us", "appointments.csv", _APPOINTMENTS
          + "1,7,03/25/2024 10:15 AM,Completed,25/03/2024\n2,7,2024-03-05 09:00,Completed,\n"
          + "3,7, 4/5/24 ,Completed,\n")  # fmt: skip
    write(tmp_path / "eu", "appointments.csv", _APPOINTMENTS
          + "1,7,25/03/2024 10:15 AM,Completed,25/03/2024\n2,7,2024-03-05 09:00,Completed,\n"
          + "3,7, 5/4/24 ,Completed,\n")  # fmt: skip
    us, _ = rows(tmp_path / "us", "appointments")
    read = list(open_export(tmp_path / "eu", Bindings(day_first=True)).read("appointments"))
    eu = [r for r in read if isinstance(r, Row)]
    assert [r.values for r in eu] == [r.values for r in us]
    assert eu[0].values["StartDateTime"] == datetime(2024, 3, 25, 10, 15)
    assert [r.raw["StartDateTime"] for r in eu] == [
        "03/25/2024 10:15 AM", "2024-03-05 09:00", " 4/5/24 "
    ]  # fmt: skip
    assert eu[0].raw["Note"] == "25/03/2024"  # text, as written
    as_written, _ = rows(tmp_path / "eu", "appointments")  # no map: month first, as MDC
    assert as_written[0].values["StartDateTime"] is None


def test_the_audit_tells_how_the_export_writes_its_dates(tmp_path: Path) -> None:
    from flitstack.mapping.roles import Bindings
    from flitstack.source.audit import audit_export

    body = "".join(f"{n},7,{n % 28 + 1:02d}/{n % 12 + 1:02d}/2024 10:00,Completed,\n"
                   for n in range(1, 60))  # fmt: skip
    write(tmp_path / "eu", "appointments.csv", _APPOINTMENTS + body)
    report = audit_export(open_export(tmp_path / "eu"))
    assert report.date_order == "day-first" and not report.dates_read_day_first
    assert set(report.date_orders()) == {"day-first"}
    assert set(report.date_orders()["day-first"]) == {"appointments.StartDateTime"}
    # read day first (the map says so): the dates, as read, confirm it
    again = audit_export(open_export(tmp_path / "eu"), bindings=Bindings(day_first=True))
    assert again.date_order == "day-first" and again.dates_read_day_first
    assert set(again.date_orders()) == {"month-first"}  # as read, after turning them
    assert sum(sum(c.problems.values()) for c in again.profiles) == 0
    # a month-first export read day first by mistake: its dates say otherwise
    us = "".join(f"{n},7,{n % 12 + 1:02d}/{n % 28 + 1:02d}/2024,Completed,\n" for n in range(1, 60))
    write(tmp_path / "us", "appointments.csv", _APPOINTMENTS + us)
    wrong = audit_export(open_export(tmp_path / "us"), bindings=Bindings(day_first=True))
    assert wrong.date_order == "month-first"
    # dates that read either way: as MDC writes them
    either = "".join(
        f"{n},7,{n % 12 + 1:02d}/{n % 12 + 1:02d}/2024,Completed,\n" for n in range(1, 60)
    )
    write(tmp_path / "either", "appointments.csv", _APPOINTMENTS + either)
    assert audit_export(open_export(tmp_path / "either")).date_order == "month-first"


# --- a report's title above the header ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delimiter", "preamble"),
    [
        ("A,B\n1,2\n", ",", ()),
        ("Patients report\n\nA;B\n1;2\n", ";", ("Patients report", "")),
        ("  \r\nA\tB\r\n", "\t", ("  ",)),
        ("OnlyColumn\n1\n2\n", ",", ()),  # one column: the first line is its header
        # a title holding the separator, above the header
        (
            "Appointments, printed Nov 20, 2026\nA,B,C,D,E\n1,2,3,4,5\n",
            ",",
            ("Appointments, printed Nov 20, 2026",),
        ),
        ("PatientID,PropertyName,Value\n1,Allergy,Latex\n", ",", ()),  # three columns
        ("PatientID,PropertyName,Value\n1,Allergy,Latex,x\n", ",", ()),  # one field too many
        ("", ",", ()),
    ],
)
def test_where_the_header_is(text: str, delimiter: str, preamble: tuple[str, ...]) -> None:
    import io

    from flitstack.source.reader import detect_layout

    layout = detect_layout(io.StringIO(text, newline=""))
    assert (layout.delimiter, layout.preamble) == (delimiter, preamble)


def test_lines_above_the_header_are_skipped_and_named(tmp_path: Path) -> None:
    from flitstack.source.audit import audit_export

    body = "1,Ann,Lee,,,,Active,N,\n2,Bo,Lee,,,,Active,N,\n"
    write(tmp_path / "plain", "patients.csv", f"{HEADER}\n{body}")
    title = "My Dental Clinic - Patients - printed 11/20/2026"
    write(tmp_path / "titled", "patients.csv", f"{title}\n\n{HEADER}\n{body}", newline="\r\n")
    plain, _ = rows(tmp_path / "plain", "patients")
    titled, rejects = rows(tmp_path / "titled", "patients")
    assert rejects == []
    assert [r.values for r in titled] == [r.values for r in plain]
    assert [r.line for r in titled] == [4, 5]  # lines of the file, title included
    with open_export(tmp_path / "titled") as export:
        assert export.columns("patients") == HEADER.split(",")
        audited = audit_export(export)
    assert audited.files[0].preamble == [title, ""]
    assert audited.files[0].rows_read == 2


def test_files_named_as_parts_of_the_formats_files(tmp_path: Path) -> None:
    for name in ("appointments_2023.csv", "Appointments (2).csv", "patients-old.csv",
                 "treatment_plans.2.csv", "visit_codes.csv", "patient_insurance.csv",
                 "appointmentsX.csv"):  # fmt: skip
        write(tmp_path, name, "A,B\n1,2\n")
    export = open_export(tmp_path)
    assert export.parts() == {
        "appointments": ["Appointments (2).csv", "appointments_2023.csv"],
        "patients": ["patients-old.csv"],
        "treatment_plans": ["treatment_plans.2.csv"],
    }
    with pytest.raises(ExportError) as refused:
        export.check_parts()
    message = str(refused.value)
    assert "Appointments (2).csv, appointments_2023.csv look like parts of appointments.csv" in (
        message
    )
    assert "patients-old.csv looks like a part of patients.csv" in message
    assert "\n" not in message


def test_the_audit_notes_how_the_export_was_read(tmp_path: Path) -> None:
    from flitstack.source.audit import audit_export
    from flitstack.source.audit_report import reading_notes

    write(tmp_path, "patients.csv", f"Patients\n\n{HEADER}\n1,Ann,Lee,,,,Active,N,\n")
    days = "".join(f"{n},7,{n % 28 + 1:02d}/{n % 12 + 1:02d}/2024 10:00,Completed,\n"
                   for n in range(1, 40))  # fmt: skip
    write(tmp_path, "appointments.csv", _APPOINTMENTS.replace(",", ";") + days.replace(",", ";"))
    write(tmp_path, "appointments_2023.csv", _APPOINTMENTS + "1,7,2024-03-05,Completed,\n")
    notes = reading_notes(audit_export(open_export(tmp_path)))
    assert notes == [
        "appointments_2023.csv: named as part of appointments.csv; the run refuses it until "
        "the rows are joined into appointments.csv",
        "dates are written day first (1 column, e.g. appointments.StartDateTime): the map "
        "proposes date_order: day-first",
        "fields separated by ;: appointments.csv",
        "lines above the header skipped (a title, blank lines): patients.csv",
    ]
    months = "".join(
        f"{n},7,{n % 12 + 1:02d}/{n % 28 + 1:02d}/2024,Completed,\n" for n in range(50, 80)
    )
    write(tmp_path, "appointments.csv", _APPOINTMENTS + days + months)
    (tmp_path / "appointments_2023.csv").unlink()
    (both,) = [n for n in reading_notes(audit_export(open_export(tmp_path))) if "both" in n]
    assert both.startswith("dates are written both ways: only day first in appointments.")


# --- dates with the month as a name (a spreadsheet's display formats) ---------------------------


@given(
    day=st.dates(min_value=date(1971, 1, 1), max_value=date(2068, 12, 31)),
    form=st.sampled_from(
        ["%d-%b-%Y", "%d-%b-%y", "%b %d, %Y", "%B %d, %Y", "%d %B %Y", "%d %b %Y"]
    ),
    time_of_day=st.sampled_from(["", " 10:15", " 2:30 PM"]),
)
def test_a_date_with_the_month_as_a_name_reads_as_that_day(
    day: date, form: str, time_of_day: str
) -> None:
    from flitstack.source.values import parse_date, parse_datetime

    text = day.strftime(form) + time_of_day
    assert parse_date(text).value == day, text
    when = parse_datetime(text).value
    assert isinstance(when, datetime) and when.date() == day, text
    assert parse_date(text.lower()).value == day  # any case


@pytest.mark.parametrize("text", ["Foo 1, 2023", "31-Feb-2023", "Jan 1, 2023 99:99", "Mar-2023"])
def test_a_month_name_that_makes_no_day_is_no_date(text: str) -> None:
    from flitstack.source.values import parse_date

    assert parse_date(text).problem == "bad_date"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_value_excel_was_told_to_keep_as_text_is_the_text(tmp_path: Path, encoding: str) -> None:
    """``="1001"`` (how a file is written for Excel to keep 00123 or 1001 as text) is read as
    the text it holds, in values and cells, and counted; other cells with ``=`` are as written."""
    write(
        tmp_path,
        "appointments.csv",
        "AppointmentID,PatientID,StartDateTime,Status,Note\n"
        '"=""1""","=""1001""","=""2024-03-05 10:00""",Completed,"=""say """"hi"""""""\n'
        '2, ="1001" ,2024-03-05 11:00,Completed,x ="y"\n',
        encoding,
    )
    export = open_export(tmp_path)
    ok = [r for r in export.read("appointments") if isinstance(r, Row)]
    assert [r.source_id for r in ok] == ["1", "2"]
    assert [r.values["PatientID"] for r in ok] == ["1001", "1001"]
    assert ok[0].raw["PatientID"] == "1001"
    assert ok[0].values["StartDateTime"] == datetime(2024, 3, 5, 10, 0)
    assert ok[0].values["Note"] == 'say "hi"' and ok[1].values["Note"] == 'x ="y"'
    (batch,) = list(open_export(tmp_path).read_batches("appointments"))
    kinds = [(p.column, p.kind) for found in batch.problems.values() for p in found]
    assert kinds.count(("PatientID", "excel_text")) == 2 and len(kinds) == 5
