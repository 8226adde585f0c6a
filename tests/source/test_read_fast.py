"""The fast read + audit gives what reading a cell at a time gives.

The reader parses a batch of records column by column (nulls found by a table lookup, each
distinct text of a typed column parsed once, ISO dates read in bulk), the audit's column
statistics take whole columns, the cardinality sketch hashes a batch at once and the type vote
tries a pattern only when a cheap test allows it to match. Each is checked here against the
plain, one-cell-at-a-time reading it replaces.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flitstack.source import values as v
from flitstack.source.audit import classify
from flitstack.source.cardinality import HyperLogLog, hash32
from flitstack.source.damage import _json_list
from flitstack.source.reader import (
    _CDT,
    _CONTROL,
    _EMAIL_SHAPE,
    _FOLDS_TO_ASCII,
    _NULL_TEXT,
    _SURFACES,
    BATCH_ROWS,
    ExportError,
    Problem,
    ReadStats,
    Reject,
    Row,
    _header_map,
    _phone_check,
    _strip_controls,
    open_export,
    problem_message,
    tooth_text_is_valid,
)
from flitstack.source.schema import (
    NULL_DATE_SENTINELS,
    NULL_SPELLINGS,
    Column,
    FileSpec,
    Kind,
    spec_for,
)

# --- a reading one cell at a time, as the reader did before it read columns -------------------


def _reference_parse(column: Column, cell: str) -> v.ParsedValue:
    kind = column.kind
    simple = {
        Kind.DATE: v.parse_date,
        Kind.DATETIME: v.parse_datetime,
        Kind.MONEY: v.parse_money,
        Kind.INT: v.parse_int,
        Kind.YES_NO: v.parse_yes_no,
    }
    if kind in simple:
        return simple[kind](cell)
    if kind is Kind.ENUM:
        return v.parse_enum(cell, column.values)
    if v.is_null(cell):
        return v.NULL
    text = cell.strip()
    if kind is Kind.PHONE:
        return v.ParsedValue(text, _phone_check(text))
    if kind is Kind.EMAIL:
        return v.ParsedValue(text, None if _EMAIL_SHAPE.match(text) else "invalid_email")
    if kind is Kind.TOOTH:
        tooth = text.lstrip("#").strip()
        return v.ParsedValue(tooth, None if tooth_text_is_valid(tooth) else "invalid_tooth")
    if kind is Kind.CDT:
        code = text.upper()
        return v.ParsedValue(code, None if _CDT.match(code) else "bad_cdt")
    if kind is Kind.CDT_LIST:
        codes = text.upper()
        ok = all(_CDT.match(c.strip()) for c in codes.split(";") if c.strip())
        return v.ParsedValue(codes, None if ok else "bad_cdt")
    if kind is Kind.SURFACES:
        letters = text.upper()
        return v.ParsedValue(letters, None if set(letters) <= _SURFACES else "bad_surfaces")
    return v.clean_text(cell)


def _reference_rows(stem: str, spec: FileSpec, text: str) -> tuple[list[Row | Reject], ReadStats]:
    """The rows and rejects of a file read a record, and a cell, at a time."""
    stats = ReadStats()
    out: list[Row | Reject] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    names = _header_map(stem, next(reader), spec)
    columns = [spec.column(n) for n in names]
    keys = {
        p: f"ID {n}" if n == spec.id_column or (c and c.kind is Kind.ID) else f"reference {n}"
        for p, (n, c) in enumerate(zip(names, columns, strict=True))
        if n == spec.id_column or (c and c.kind in (Kind.ID, Kind.REF))
    }
    last, index = reader.line_num, 0
    while True:
        start = last + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            stats.rows_read += 1
            stats.rows_rejected += 1
            out.append(Reject(stem, start, None, f"unreadable record: {exc}"))
            break
        last = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        stats.rows_read += 1
        index += 1
        problems: list[Problem] = []
        if _CONTROL.search("".join(fields)):
            fields, reason, where = _strip_controls(stem, start, names, keys, fields, problems)
            if reason is not None:
                stats.rows_rejected += 1
                raw_cells = dict(zip(names, fields, strict=False))
                out.append(Reject(stem, start, where, reason, raw_cells))
                continue
        if len(fields) != len(names):
            stats.rows_rejected += 1
            reason = f"row has {len(fields)} fields but the header has {len(names)}"
            out.append(Reject(stem, start, None, reason, list(fields)))
            continue
        kept: dict[int, str] = {}  # ="00123": a value Excel was told to keep as text
        for position, cell in enumerate(fields):
            held = re.fullmatch(r'\s*="((?:[^"]|"")*)"\s*', cell)
            if held is not None:
                kept[position] = cell
                fields[position] = held.group(1).replace('""', '"')
        whole: dict[int, str] = {}  # an ID saved as a decimal (1001.0) is the whole number
        for position in sorted(keys):
            decimal = re.fullmatch(r"(\d+)\.0+", fields[position].strip())
            if decimal is not None:
                whole[position] = fields[position]
                fields[position] = decimal.group(1)
        raw = dict(zip(names, fields, strict=True))
        values: dict[str, Any] = {}
        for position, (name, column, cell) in enumerate(zip(names, columns, fields, strict=True)):
            if position in kept:
                message = problem_message("excel_text")
                problems.append(Problem(stem, start, name, "excel_text", message, kept[position]))
            if position in whole:
                message = problem_message("decimal_id")
                problems.append(Problem(stem, start, name, "decimal_id", message, whole[position]))
            if column is None:
                values[name] = v.strip_or_none(cell)
                continue
            value, problem = _reference_parse(column, cell)
            values[name] = value
            if problem is not None:
                message = problem_message(problem)
                problems.append(Problem(stem, start, name, problem, message, cell))
        missing = next(
            (c.name for c in columns if c and c.required and values[c.name] in (None, "")), None
        )
        if missing is not None:
            stats.rows_rejected += 1
            reason = f"required value {missing} is missing"
            out.append(Reject(stem, start, missing, reason, raw))
            continue
        stats.rows_yielded += 1
        stats.problems += len(problems)
        out.append(Row(stem, start, index, values, raw, problems, spec.id_column))
    return out, stats


#: cells that exercise every path: whitespace, nulls in any case, sentinels, every date form,
#: impossible dates and times, money and number forms, codes, teeth, controls, quotes, newlines
CELLS = [
    "", " ", "  x ", "NULL", "nUlL", " n/a ", "NA", "None", "nil", "(NULL)", "nulls", "\u017f",
    "2024-03-05", " 2024-03-05 ", "03/05/2024", "3/5/24", "1900-01-01", "0000-00-00",
    "01/01/0001", "2024-02-30", "2024-03-05 14:30", "2024-03-05T14:30:00", "2024-03-05 14:30Z",
    "2024-03-05T14:30:00+02:00", "03/05/2024 2:30 PM", "3/5/24 25:61", "9999-12-31 25:61",
    "1900-01-01 10:00", "Tuesday", " T 10:00", "1", "12.0", "12.5", "1,234", "-3", "\u0661\u0662",
    "$1,234.50", "(45.00)", "-$3", ".", "D1110", "d2740", "D1110;D0150", "MOD", "X", "#3", "3-5",
    "UR", "Y", "Yes", "maybe", "a@b.co", "bad@", "(555) 123-4567", "555-1234", "x12",
    "Completed", "complete", "in progress", "weird", 'say "hi"', "two\nlines", "a,b", "t\tab",
    "crlf\r\ninside", "cr\ronly", "ends\r", "\n", "\r\n\r\n",
    "nul\x00here", "\x07", "\u00e9", "\U0001f600", "x" * 300,
    '="00123"', ' ="1001" ', '="say ""hi"""', '=SUM(A1)', 'x ="y"', '="2024-03-05"',
    '="12.0"',
]  # fmt: skip


def _record(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


@st.composite
def _file(draw: st.DrawFn) -> tuple[str, str]:
    stem = draw(st.sampled_from(["appointments", "patients", "ledger_entries", "providers"]))
    spec = spec_for(stem)
    assert spec is not None
    header = list(spec.column_names)
    lines = [_record(header)]
    cell = st.one_of(st.sampled_from(CELLS), st.integers(0, 10**6).map(str), st.text(max_size=6))
    for n in range(draw(st.integers(0, 40))):
        shape = draw(st.sampled_from(["row"] * 12 + ["blank", "short", "long"]))
        if shape == "blank":
            lines.append("\n")
            continue
        width = len(header) + {"row": 0, "short": -1, "long": 1}[shape]
        cells = [draw(cell) for _ in range(width)]
        if cells and draw(st.booleans()):
            cells[0] = str(1000 + n)
        lines.append(_record(cells))
    # copies of the drawn records: files longer than a batch, repeated texts for the caches
    body = lines[1:] * draw(st.sampled_from([1, 1, BATCH_ROWS // 16 + 1]))
    return stem, "".join(lines[:1] + body)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=_file(), encoding=st.sampled_from(["utf-8", "cp1252", "utf-16"]))
def test_reading_columns_gives_what_reading_cells_gives(
    tmp_path_factory: pytest.TempPathFactory, drawn: tuple[str, str], encoding: str
) -> None:
    stem, text = drawn
    data = text.encode(encoding, errors="replace")
    folder = tmp_path_factory.mktemp("export")
    (folder / f"{stem}.csv").write_bytes(data)
    spec = spec_for(stem)
    assert spec is not None
    export = open_export(folder)
    try:
        got = list(export.read(stem))
    except ExportError:  # a few bytes no encoding reads: refused before any row, as before
        return
    stats = export.stats[stem]
    held = data.decode(stats.encoding, errors="replace").removeprefix("\ufeff")
    expected, expected_stats = _reference_rows(stem, spec, held)
    assert got == expected
    assert (stats.rows_read, stats.rows_yielded, stats.rows_rejected, stats.problems) == (
        expected_stats.rows_read,
        expected_stats.rows_yielded,
        expected_stats.rows_rejected,
        expected_stats.problems,
    )
    batches = list(open_export(folder).read_batches(stem))
    assert [item for batch in batches for item in batch.items()] == expected


def test_date_times_read_a_batch_at_a_time_keep_every_problem_and_value(tmp_path: Path) -> None:
    """Date/times barely repeat: a batch the bulk reader reads whole skips the table. Batches
    holding a null, a sentinel, a bad or a day-first value go through it, and later ones too
    for a while: each value is the one-cell reading's, each problem found."""
    header = ",".join(spec_for("appointments").column_names)  # type: ignore[union-attr]
    start = datetime(2024, 3, 5, 8, 0)
    whens = [f"{start.replace(minute=n % 60, hour=8 + n // 60 % 10):%Y-%m-%d %H:%M}" for n in
             range(6 * BATCH_ROWS)]  # fmt: skip
    whens[BATCH_ROWS + 3] = "2024-13-45 10:00"
    whens[3 * BATCH_ROWS + 1] = "0000-00-00 00:00"
    whens[3 * BATCH_ROWS + 2] = ""
    whens[4 * BATCH_ROWS + 5] = "03/05/2024 2:30 PM"
    whens[5 * BATCH_ROWS + 9] = "2024-03-05T25:00"
    body = "".join(f"{n},7,{w},30,,,,,,Completed,D1110,,,\n" for n, w in enumerate(whens, 1))
    (tmp_path / "appointments.csv").write_text(f"{header}\n{body}")
    rows = [r for r in open_export(tmp_path).read("appointments") if isinstance(r, Row)]
    assert len(rows) == len(whens)
    column = spec_for("appointments").column("StartDateTime")  # type: ignore[union-attr]
    assert column is not None
    for row, when in zip(rows, whens, strict=True):
        expected = _reference_parse(column, when)
        assert row.values["StartDateTime"] == expected.value, when
        kinds = [p.kind for p in row.problems if p.column == "StartDateTime"]
        assert kinds == ([expected.problem] if expected.problem else []), when
    assert sum(1 for r in rows for p in r.problems if p.column == "StartDateTime") == 2


def test_a_bad_value_first_seen_in_a_quiet_batch_is_still_a_problem(tmp_path: Path) -> None:
    """A batch that brings few new texts has them parsed one lookup miss at a time: their
    problems are found all the same, before the batch is handed on."""
    header = "EntryID,PatientID,EntryDate,EntryType,Amount"
    lines = [f"{n},1001,2024-03-0{1 + n % 3},Charge,10.00" for n in range(1, 3 * BATCH_ROWS)]
    lines[2 * BATCH_ROWS + 7] = f"{2 * BATCH_ROWS + 8},1001,2024-13-45,Charge,10.00"
    (tmp_path / "ledger_entries.csv").write_text("\n".join([header, *lines]) + "\n")
    rows = [r for r in open_export(tmp_path).read("ledger_entries") if isinstance(r, Row)]
    bad = [(r.source_id, [p.kind for p in r.problems]) for r in rows if r.problems]
    assert bad == [(str(2 * BATCH_ROWS + 8), ["bad_date"])]
    export = open_export(tmp_path)
    found = [
        p.kind
        for b in export.read_batches("ledger_entries")
        for f in b.problems.values()
        for p in f
    ]
    assert found == ["bad_date"]


def test_batches_count_as_rows_do_and_stop_where_the_reader_stops(tmp_path: Path) -> None:
    header = ",".join(spec_for("appointments").column_names)  # type: ignore[union-attr]
    good = "1,7,2024-03-05 14:30,30,,,,,,Completed,D1110,,,\n"
    body = good * (BATCH_ROWS + 5) + "2,,,,,,,,,,,,,\n" + "3,7\n" + good * 3
    (tmp_path / "appointments.csv").write_text(f"{header}\n{body}")
    export = open_export(tmp_path)
    rows = list(export.read("appointments"))
    by_rows = export.stats["appointments"]
    batches = list(export.read_batches("appointments"))
    by_batches = export.stats["appointments"]
    assert by_rows == by_batches
    assert sum(b.records for b in batches) == len(rows) == by_rows.rows_read
    assert [r for b in batches for r in b.rejects()] == [r for r in rows if isinstance(r, Reject)]
    # a reader that stops early has counted only what it took
    taken = export.read("appointments")
    for _ in range(3):
        next(taken)
    assert export.stats["appointments"].rows_read == 3
    taken.close()


def test_control_character_after_many_clean_rows_is_still_found(tmp_path: Path) -> None:
    """No control byte read yet spares the search; the one in a late batch is still found."""
    header = "PatientID,FirstName,LastName"
    body = "".join(f"{n},Ann,Lee\n" for n in range(3 * BATCH_ROWS)) + "9999,A\x00nn,Lee\n"
    for encoding in ("utf-8", "cp1252", "utf-16"):
        (tmp_path / "patients.csv").write_bytes(f"{header}\n{body}".encode(encoding))
        rows = [r for r in open_export(tmp_path).read("patients") if isinstance(r, Row)]
        assert rows[-1].values["FirstName"] == "Ann", encoding
        assert [p.kind for p in rows[-1].problems] == ["control_characters"], encoding


_NOTE_PIECES = st.sampled_from(["plain words ", "x" * 3000, "line\nbreak ", "\x00", "\x07",
                                 '="1001"', "=", '"', "é"])  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 400),
            st.lists(_NOTE_PIECES, max_size=12).map("".join) | st.just('="1001"'),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["utf-8", "utf-8-sig"]),
    st.booleans(),
)
def test_controls_and_formulas_are_found_whichever_chunk_holds_them(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    notes: list[tuple[int, str]],
    encoding: str,
    zipped: bool,
) -> None:
    """Only the batches read from a chunk holding a control byte or ``="`` are searched: what
    is found equals searching every batch, however long the records across chunks are."""
    header = "NoteID,PatientID,NoteText"
    lines, n = [], 0
    for clean, note in notes:
        for _ in range(clean):
            n += 1
            lines.append(f"{n},7,fine\n")
        n += 1
        quoted = note.replace('"', '""')  # a cell kept as text by Excel is written as is
        lines.append(f"{n},7,{note}\n" if note == '="1001"' else f'{n},7,"{quoted}"\n')
    data = (header + "\n" + "".join(lines)).encode(encoding, "replace")
    export = tmp_path / ("export.zip" if zipped else "export")
    if zipped:  # a zip member is read through its own buffered reader
        with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("clinical_notes.csv", data)
    else:
        export.mkdir(exist_ok=True)
        (export / "clinical_notes.csv").write_bytes(data)

    def read() -> list[Any]:
        found = []
        for batch in open_export(export).read_batches("clinical_notes"):
            found.append((batch.texts, sorted(batch.problems.items()), sorted(batch.rejected)))
        return found

    watched = read()
    with monkeypatch.context() as patch:  # no watch: every batch searched
        patch.setattr("flitstack.source.reader._bytes_show_controls", lambda encoding: False)
        assert watched == read()


# --- nulls, typed entries, bulk ISO dates ----------------------------------------------------


def test_the_characters_that_fold_to_ascii_are_listed() -> None:
    folds = {chr(c) for c in range(128, sys.maxunicode + 1) if chr(c).casefold().isascii()}
    assert folds == set(_FOLDS_TO_ASCII)
    assert all(s.isascii() for s in NULL_SPELLINGS)


def test_the_null_table_holds_every_case_of_every_null_spelling() -> None:
    assert all(v.is_null(text) for text in _NULL_TEXT)
    for spelling in NULL_SPELLINGS:
        assert spelling in _NULL_TEXT and spelling.upper() in _NULL_TEXT


_NULL_ALPHABET = "".join(sorted(set("".join(NULL_SPELLINGS)))) + "NULAOEI \t\u017f\u212ax"


@given(st.text(alphabet=_NULL_ALPHABET, max_size=8) | st.text(max_size=8))
def test_a_text_is_in_the_null_table_exactly_when_it_is_null(text: str) -> None:
    assert (text.strip() in _NULL_TEXT) == v.is_null(text)


_VALUE_TEXT = st.one_of(st.sampled_from(CELLS), st.text(max_size=24))


@given(_VALUE_TEXT)
def test_stripped_entries_give_what_the_parsers_give(text: str) -> None:
    if v.is_null(text):
        return
    s = text.strip()
    assert v.date_from(s) == v.parse_date(text)
    assert v.datetime_from(s) == v.parse_datetime(text)
    assert v.money_from(s) == v.parse_money(text)
    assert v.int_from(s) == v.parse_int(text)
    assert v.yes_no_from(s) == v.parse_yes_no(text)
    options = ("Scheduled", "Completed", "NoShow", "InProgress")
    assert v.enum_from(s, v.enum_table(options)) == v.parse_enum(text, options)


def _reference_datetime(text: str) -> v.ParsedValue:
    """Reading a date/time with no cached part and no bulk ISO path."""
    if v.is_null(text):
        return v.NULL
    s = text.strip()
    if s in NULL_DATE_SENTINELS:
        return v.NULL
    try:
        if len(s) >= 10 and s[4] == "-" and s[:10] not in NULL_DATE_SENTINELS:
            return v.ParsedValue(
                datetime.fromisoformat(s.replace("Z", "+00:00") if s[-1] == "Z" else s)
            )
    except ValueError:
        pass
    head, tail = v._split_date_time(s)
    day = v.parse_date(head)
    if day.problem:
        return v.ParsedValue(None, "bad_datetime")
    if day.value is None:
        return v.NULL
    d = day.value
    if tail is None:
        return v.ParsedValue(datetime(d.year, d.month, d.day))
    hms = v._parse_time(tail)
    if hms is None:
        return v.ParsedValue(None, "bad_datetime")
    return v.ParsedValue(datetime(d.year, d.month, d.day, *hms))


_DATE_TIME_TEXT = st.one_of(
    st.sampled_from(CELLS),
    st.text(alphabet="0123456789-/: TtZzAPMapm+.", max_size=22),
    st.datetimes().map(lambda d: d.strftime("%m/%d/%Y %I:%M %p")),
    st.datetimes().map(lambda d: d.strftime("%-m/%-d/%y %H:%M:%S")),
)


@given(_DATE_TIME_TEXT)
def test_date_times_read_with_cached_parts_as_they_read_whole(text: str) -> None:
    assert v.parse_datetime(text) == _reference_datetime(text)
    assert v.parse_datetime(text) == _reference_datetime(text)  # now from the caches


_BULK_TEXT = (
    st.dates(min_value=date(1, 1, 1)).map(date.isoformat)
    | st.datetimes().map(lambda d: d.isoformat(sep=" ", timespec="minutes"))
    | st.datetimes().map(lambda d: d.isoformat(timespec="seconds"))
    | st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?\Z")
    | st.datetimes().map(datetime.isoformat)  # microseconds, any separator fromisoformat reads
    | st.text(alphabet="0123456789-W:T +Z.", min_size=8, max_size=26)
    | st.datetimes().map(lambda d: d.strftime("%m/%d/%Y %I:%M %p"))
    | st.datetimes().map(lambda d: d.strftime("%-m/%-d/%y %H:%M:%S"))
    | st.text(alphabet="0123456789/: TAPMapm", min_size=1, max_size=22)
    | st.sampled_from(CELLS)
)


@given(st.lists(_BULK_TEXT, max_size=12))
def test_texts_read_in_bulk_read_as_the_parsers_read_them(texts: list[str]) -> None:
    """Every text a bulk reader takes gets the value its kind's parser gives it, without a
    problem; the exact ISO shapes (and US date/times) are taken; the rest is left alone."""
    distinct = list(dict.fromkeys(t.strip() for t in texts if t.strip() and not v.is_null(t)))
    for bulk, parse, shapes in (
        (v.read_dates, v.date_from, [_ISO_DATE]),
        (v.read_datetimes, v.datetime_from, [_ISO_DATETIME, _US_DATETIME]),
    ):
        read, values = bulk(distinct)
        assert len(read) == len(values) == len(set(read)) and set(read) <= set(distinct)
        for text, value in zip(read, values, strict=True):
            assert parse(text) == v.ParsedValue(value), text
        for text in distinct:
            exact = any(shape.fullmatch(text) for shape in shapes)
            if exact and parse(text).problem is None and parse(text).value is not None:
                assert text in read, text


#: the exact ISO shapes the bulk readers take (to the minute or second, no sentinel date)
_SENTINELS = "|".join(re.escape(s) for s in sorted(NULL_DATE_SENTINELS))
_ISO_DATE = re.compile(rf"(?!{_SENTINELS})[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}")
_ISO_DATETIME = re.compile(
    rf"(?!{_SENTINELS})[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[ T][0-9]{{2}}:[0-9]{{2}}(?::[0-9]{{2}})?"
)
#: the US date/times the date/time reader takes in bulk (when they are real ones)
_US_DATETIME = re.compile(
    r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{2,4} [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?( [AP]M)?"
)


# --- the audit's column statistics ------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[+(]?[\d][\d\s().\-]{6,}\d(\s*(x|ext\.?)\s*\d+)?$", re.IGNORECASE)
_INT = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?\d*\.\d+$")
_WHOLE = re.compile(r"^[+-]?\d+\.0+$")  # 1001.0: a whole number a spreadsheet saved
_MONEY = re.compile(r"^\(?-?\$?\s?[\d,]+(\.\d{1,2})?\)?$")
_CDT_ANY = re.compile(r"^D\d{4}$", re.IGNORECASE)
_CDT_LIST = re.compile(r"^D\d{4}(;\s*D\d{4})+$", re.IGNORECASE)
_URL = re.compile(r"^https?://", re.IGNORECASE)


def _reference_classify(text: str) -> str:
    """The type vote trying every pattern in turn."""
    t = text.strip()
    if t.casefold() in {"y", "n", "yes", "no", "true", "false"}:
        return "boolean"
    for name, pattern in (
        ("cdt", _CDT_ANY), ("cdt_list", _CDT_LIST), ("email", _EMAIL), ("url", _URL),
        ("int", _INT), ("int", _WHOLE), ("decimal", _DECIMAL),
    ):  # fmt: skip
        if pattern.match(t):
            return name
    if ("$" in t or t.startswith("(")) and _MONEY.match(t) and v.parse_money(t).problem is None:
        return "money"
    if len(t) >= 6 and (t[0].isdigit() or t[0] == "(") and ("-" in t or "/" in t):
        dt = v.parse_datetime(t)
        if dt.problem is None and dt.value is not None:
            return "datetime" if ":" in t else "date"
        if v.parse_date(t).problem is None and v.parse_date(t).value is not None:
            return "date"
        if v.slash_order(t) == "day-first":  # 25/03/2024
            return "datetime" if ":" in t else "date"
    if t[:1].isalpha() and 8 <= len(t) <= 40 and any(c.isdigit() for c in t[-4:]):
        when = v.parse_datetime(t)  # Jan 1, 2023: the month as a name
        if when.problem is None and when.value is not None:
            return "datetime" if ":" in t else "date"
    if _PHONE.match(t):
        return "phone"
    if "\n" in t or len(t) > 120:
        return "long_text"
    return "text"


_CLASSIFY_TEXT = st.one_of(
    st.sampled_from(CELLS),
    st.text(alphabet="0123456789Dd+-.$(),/: @x\u0661TtPpSsHh\u017f\n", max_size=20),
    st.text(max_size=12),
    st.sampled_from(["https://x.y", "HTTPS://a", "http\u017f://", "mailto:a@b.c", "D1234\n"]),
    st.sampled_from(
        [
            "Jan 1, 2023",
            "01-Jan-2023 10:15",
            "1 March 2024",
            "25/03/2024 10:15",
            "32/03/2024",
            "1001.0",
            "-12.00",
            "Main St 2023",
            "May 2023",
        ]
    ),
)


@given(_CLASSIFY_TEXT)
def test_the_type_vote_is_the_vote_of_every_pattern(text: str) -> None:
    assert classify(text) == _reference_classify(text)


def _reference_registers(texts: list[str], precision: int = 12) -> bytearray:
    registers, bits = bytearray(1 << precision), 32 - precision
    for text in texts:
        h = hash32(text)
        rank = bits - (h & ((1 << bits) - 1)).bit_length() + 1
        registers[h >> bits] = max(registers[h >> bits], rank)
    return registers


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.text(max_size=6) | st.integers(0, 99).map(str), max_size=3000),
    st.integers(1, 700),
)
def test_the_sketch_hashes_a_batch_as_it_would_each_value(texts: list[str], batch: int) -> None:
    sketch = HyperLogLog()
    for start in range(0, len(texts), batch):
        sketch.update(texts[start : start + batch])
    assert sketch.registers == _reference_registers(texts)


@given(st.lists(st.text(max_size=5) | st.integers(0, 5000).map(str), max_size=20))
def test_reference_lists_are_json_as_json_dumps_writes_them(texts: list[str]) -> None:
    assert json.loads(_json_list(texts)) == texts
