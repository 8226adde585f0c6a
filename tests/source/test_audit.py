"""The audit finds exactly the mess the generator injected, resolves references on hand-made
exports, estimates cardinality past its cap, and writes escaped, masked, owner-only reports."""

from __future__ import annotations

import csv
import json
import random
import shutil
import stat
from collections import Counter
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flitstack.mapping import propose as propose_module
from flitstack.settings import Settings
from flitstack.source import audit as audit_module
from flitstack.source import cardinality
from flitstack.source.audit import AuditReport, audit_export, mask
from flitstack.source.audit_report import write_audit
from flitstack.source.cardinality import DistinctCounter, HyperLogLog, hash32, rising
from flitstack.source.generator import INJECTIONS_FILE, generate_export
from flitstack.source.mess import MessKind, MessRates
from flitstack.source.reader import Row, open_export

PATIENTS = 250
HOSTILE = "<script>alert(1)</script>"


def audit(path: Path, **options: Any) -> AuditReport:
    with open_export(path) as export:
        return audit_export(export, Settings(), **options)


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export with every kind of mess (rates tripled so each occurs at this size)."""
    out = tmp_path_factory.mktemp("audit") / "export"
    generate_export(out, PATIENTS, seed=11, mess=MessRates().scaled(3))
    return out


@pytest.fixture(scope="module")
def injected(messy: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((messy / INJECTIONS_FILE).read_text())
    return data


@pytest.fixture(scope="module")
def report(messy: Path) -> AuditReport:
    return audit(messy)


def test_every_kind_of_mess_was_injected(injected: dict[str, Any]) -> None:
    """Guards the comparisons below: a kind injected zero times would prove nothing."""
    for kind in (
        MessKind.INVALID_EMAIL,
        MessKind.JUNK_PHONE,
        MessKind.DUPLICATE_PATIENT,
        MessKind.PROVIDER_WITHOUT_EMAIL,
        MessKind.MISSING_DOCUMENT_FILE,
        MessKind.DELETED_PATIENT_WITH_APPOINTMENTS,
        MessKind.GUARANTOR_OTHER_FAMILY,
    ):
        assert injected["counts"].get(kind, 0) > 0, kind
    assert injected["orphan_references"] and injected["rejected_rows"]


def test_damage_counts_equal_the_injections(report: AuditReport, injected: dict[str, Any]) -> None:
    found = report.damage.as_mess_counts()
    expected = {kind: injected["counts"].get(kind, 0) for kind in found}
    assert found == expected


def test_orphan_references_equal_the_injections(
    report: AuditReport, injected: dict[str, Any]
) -> None:
    assert report.damage.orphan_references == injected["orphan_references"]


def test_rejected_rows_equal_the_injections(report: AuditReport, injected: dict[str, Any]) -> None:
    by_file = {f.file: f.rows_rejected for f in report.files if f.rows_rejected}
    assert by_file == injected["rejected_rows"]
    assert report.rejects_total == len(report.rejects) == sum(by_file.values())
    assert all(r.line > 1 and "header has" in r.reason for r in report.rejects)


def test_value_problems_equal_the_injections(report: AuditReport, injected: dict[str, Any]) -> None:
    totals = report.problem_totals()
    assert totals["invalid_email"] == injected["counts"][MessKind.INVALID_EMAIL]
    assert totals["junk_phone"] == injected["counts"][MessKind.JUNK_PHONE]
    # cosmetic mess (date, money, enum, tooth and null forms) is readable: no other problems
    assert set(totals) == {"invalid_email", "junk_phone"}


def test_providers_without_email_are_named(report: AuditReport, messy: Path) -> None:
    without = [
        r.source_id
        for r in open_export(messy).read("providers")
        if isinstance(r, Row) and r.values["Email"] is None
    ]
    assert report.damage.providers_without_email_ids == without


def test_duplicate_examples_point_at_the_first_copy(report: AuditReport, messy: Path) -> None:
    patients = {r.source_id: r for r in open_export(messy).read("patients") if isinstance(r, Row)}
    assert report.damage.duplicate_examples
    for example in report.damage.duplicate_examples:
        # "patients.csv line N: PatientID X looks like PatientID Y"
        words = example.split()
        line, later, first = int(words[2].rstrip(":")), words[4], words[-1]
        assert patients[later].line == line and int(first) < int(later)
        for column in ("FirstName", "LastName", "DateOfBirth"):
            assert patients[later].values[column] == patients[first].values[column]


def test_a_clean_export_has_no_damage(tmp_path: Path) -> None:
    generate_export(tmp_path / "clean", 60, seed=4, mess=MessRates.clean())
    report = audit(tmp_path / "clean")
    assert set(report.damage.as_mess_counts().values()) == {0}
    assert report.damage.orphan_references == {} and report.rejects_total == 0
    assert sum(report.problem_totals().values()) == 0
    assert report.missing_files == [] and report.unknown_files == []


def test_zip_and_folder_audit_alike(tmp_path: Path) -> None:
    folder = generate_export(tmp_path / "f", 50, seed=9, mess=MessRates().scaled(4)).path
    archive = generate_export(tmp_path / "z", 50, seed=9, mess=MessRates().scaled(4), zip=True)
    a, b = audit(folder), audit(archive.path)
    assert a.damage == b.damage
    assert [(f.file, f.rows_read, f.rows_rejected) for f in a.files] == [
        (f.file, f.rows_read, f.rows_rejected) for f in b.files
    ]


# --- hand-made exports: each rule on its own ------------------------------------------------


def write_csv(folder: Path, name: str, rows: list[list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


PATIENT_HEADER = [
    "PatientID",
    "FirstName",
    "LastName",
    "DateOfBirth",
    "Email",
    "Address1",
    "Status",
    "GuarantorID",
    "PrimaryProviderID",
]


def test_reference_rules_on_a_hand_made_export(tmp_path: Path) -> None:
    write_csv(
        tmp_path,
        "patients",
        [
            PATIENT_HEADER,
            ["1", "Ann", "Lee", "1980-01-02", "a@x.org", "1 Elm St", "Active", "1", "7"],
            ["2", "Bob", "Lee", "1982-03-04", "", "1 Elm St", "Active", "1", "8"],
            ["3", "ann ", "LEE", "01/02/1980", "", "9 Oak Rd", "Deleted", "2", "99"],
            ["4", "Cy", "Ray", "1990-05-06", "c@x.org", "9 Oak Rd", "Active", "404", ""],
            ["5", "Ann", "Lee", "1980-01-02", "a@x.org", "1 Elm St", "Deleted", "5", "7"],
        ],
    )
    write_csv(
        tmp_path,
        "providers",
        [["ProviderID", "FirstName", "Email"], ["7", "Dee", "d@x.org"], ["8", "Eve", ""]],
    )
    write_csv(
        tmp_path,
        "appointments",
        [
            ["AppointmentID", "PatientID", "ProviderID", "LocationID"],
            ["1", "3", "7", ""],
            ["2", "3", "7", ""],
            ["3", "5", "66", "1"],
            ["4", "77", "8", ""],
        ],
    )
    write_csv(
        tmp_path,
        "documents",
        [["DocumentID", "PatientID", "FileName"], ["1", "1", "1/a.png"], ["2", "1", "1/b.png"]],
    )
    (tmp_path / "documents" / "1").mkdir(parents=True)
    (tmp_path / "documents" / "1" / "a.png").write_bytes(b"\x89PNG")
    report = audit(tmp_path)
    d = report.damage
    assert d.orphan_references == {
        "appointments.LocationID": 1,  # no locations.csv at all: every reference is an orphan
        "appointments.PatientID": 1,
        "appointments.ProviderID": 1,
        "patients.GuarantorID": 1,
        "patients.PrimaryProviderID": 1,
    }
    # 3 and 5 repeat 1 (name case/space and date form do not matter)
    assert d.duplicate_patients == 2
    assert d.duplicate_examples == [
        "patients.csv line 4: PatientID 3 looks like PatientID 1",
        "patients.csv line 6: PatientID 5 looks like PatientID 1",
    ]
    assert d.guarantors_in_other_families == 1  # patient 3 (Oak Rd) guaranteed by 2 (Elm St)
    assert d.deleted_patients_with_appointments == 2  # 3 (twice) and 5, each counted once
    assert (d.patients_without_email, d.providers_without_email) == (2, 1)
    assert d.providers_without_email_ids == ["8"]
    assert d.missing_document_files == 1
    assert "locations" in report.missing_files


def test_scratch_files_are_private_and_removed(tmp_path: Path, messy: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    seen: list[tuple[int, int]] = []

    def peek(_name: str) -> None:
        if not seen:
            (folder,) = scratch.iterdir()
            seen.append(
                (
                    stat.S_IMODE(folder.stat().st_mode),
                    stat.S_IMODE((folder / "scratch.sqlite").stat().st_mode),
                )
            )

    audit(messy, scratch_dir=scratch, on_row=peek)
    assert seen == [(0o700, 0o600)]
    assert list(scratch.iterdir()) == []


# --- cardinality --------------------------------------------------------------------------


def test_cardinality_is_exact_under_the_cap_and_past_it_estimated_exact_or_capped(
    monkeypatch: pytest.MonkeyPatch, report: AuditReport, messy: Path, tmp_path: Path
) -> None:
    exact_by_column = {(c.file, c.column): c for c in report.profiles}
    assert all(not c.cardinality_capped for c in report.profiles if c.cardinality < 5000)
    monkeypatch.setattr(audit_module, "CARDINALITY_CAP", 40)
    monkeypatch.setattr(audit_module, "TYPE_SAMPLE", 30)  # types known before the cap
    capped = audit(messy)
    how: dict[str, set[str]] = {"exact": set(), "estimated": set(), "at least": set()}
    for profile in capped.profiles:
        before = exact_by_column[(profile.file, profile.column)]
        # past the cap or not, nulls and lengths are taken from every row
        assert (profile.nulls, profile.max_length) == (before.nulls, before.max_length)
        if before.cardinality <= 40:
            assert (profile.cardinality, profile.cardinality_capped) == (before.cardinality, False)
            assert profile.cardinality_how == "exact"
            continue
        assert profile.cardinality_capped and profile.top_values == []
        how[profile.cardinality_how].add(profile.column)
        if profile.cardinality_how == "at least":  # counted to the cap: dates, times, amounts
            assert profile.cardinality == 40
            kind, share = max(profile.type_votes.items(), key=lambda kv: kv[1])
            assert kind in audit_module.COUNTED_TO_CAP and share > 0.5, profile
        elif profile.cardinality_how == "exact":  # values that never go down
            assert profile.cardinality == before.cardinality, profile
        else:
            assert abs(profile.cardinality - before.cardinality) <= max(
                3, 0.06 * before.cardinality
            ), (profile.file, profile.column)
    # the export's dates and amounts are counted to the cap, its sorted IDs exactly past it,
    # the rest estimated
    assert {"Amount", "EntryDate", "StartDateTime"} <= how["at least"]
    assert {"EntryID", "AppointmentID", "NoteID"} <= how["exact"]
    assert {"GuarantorID", "Email"} <= how["estimated"]
    ids = next(
        c for c in capped.profiles if (c.file, c.column) == ("appointments", "AppointmentID")
    )
    assert ids.inferred_type == "id"  # every value distinct, counted past the cap
    assert capped.damage == report.damage
    # the inventory tells the three apart
    page = write_audit(capped, tmp_path / "audit").html.read_text(encoding="utf-8")
    assert ">40+</td>" in page and ">≈ " in page
    assert f">{ids.cardinality}</td>" in page


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.text(max_size=8), max_size=300),
    st.integers(min_value=1, max_value=60),
    st.none() | st.integers(min_value=0, max_value=80),
)
def test_distinct_counter_is_exact_until_the_cap(
    texts: list[str], cap: int, counted: int | None
) -> None:
    counter = DistinctCounter(cap, counted)
    for start in range(0, len(texts), 37):
        counter.update(texts[start : start + 37])
    distinct = len(set(texts))
    if distinct <= cap:
        assert counter.exact and counter.value() == distinct
    elif rising(None, texts) is not None and not any("\x00" in t for t in texts):
        assert counter.capped and counter.exact and counter.value() == distinct  # went up only
    else:
        assert counter.capped and not counter.exact and counter.value() > cap
    # how often each value occurs is known exactly while few are distinct, else not at all
    if distinct <= min(cap, cap if counted is None else counted):
        assert counter.counts == Counter(texts)
    else:
        assert counter.counts is None


def test_types_counted_to_the_cap_decide_no_identifier() -> None:
    """A column of such values is never proposed as an identifier, whatever its count."""
    assert audit_module.COUNTED_TO_CAP <= propose_module._NOT_IDS


def _key(text: str) -> tuple[int, str]:
    return len(text), text


@settings(max_examples=300, deadline=None)
@given(
    st.none() | st.text("019a", max_size=3),
    st.lists(st.text("019a", max_size=3), max_size=12),
    st.booleans(),
)
def test_rising_tells_a_column_that_never_goes_down(
    last: str | None, texts: list[str], ordered: bool
) -> None:
    if ordered:  # most drawn lists go down somewhere: half of them are put in order
        texts = sorted(texts, key=_key)
    before = [last, *texts] if last is not None else texts
    goes_up = all(_key(a) <= _key(b) for a, b in pairwise(before))
    new = rising(last, texts)
    if not goes_up:
        assert new is None
    else:  # each value new when it differs from the one before
        assert new == [t for a, t in zip([last, *texts], texts, strict=False) if t != a]


def _fed(values: list[str], counter: DistinctCounter, size: int = 256) -> DistinctCounter:
    for start in range(0, len(values), size):
        counter.update(values[start : start + size])
    return counter


def test_a_column_that_only_goes_up_is_counted_exactly_past_the_cap() -> None:
    ids = [str(n) for n in range(1, 30_001)]  # 9 → 10 → … → 10000: whole numbers in order
    repeated = [t for t in ids for _ in range(1 + (t.endswith("7")))]  # some twice, in a row
    for values in (ids, repeated):
        counter = _fed(values, DistinctCounter(5_000, 12))
        assert counter.capped and counter.exact and counter.value() == 30_000
        assert counter.sketch is None and counter.run is not None
        assert counter.run.size < 100_000  # kept deflated: a few bytes a value


def test_a_column_that_goes_down_after_the_cap_is_estimated_from_all_its_values() -> None:
    ids = [f"é{n:05d}" for n in range(20_000)]  # two-byte characters, cut across chunks
    later = ids[:10_000] + [f"é{n:05d}" for n in range(40_000, 41_000)]
    counter = _fed(ids + later, DistinctCounter(5_000, 12))
    assert counter.capped and not counter.exact and counter.run is None
    # every value before the turn is in the sketch: 21,000 distinct, not 31,000 nor 11,000
    assert abs(counter.value() - 21_000) <= 0.05 * 21_000


@settings(max_examples=150, deadline=None)
@given(
    st.sets(
        st.integers(0, 3_000).map(str)
        | st.integers(0, 999).map(lambda n: f"{n:04d}")  # a leading zero: not a plain number
        | st.text("0é9", min_size=1, max_size=3),
        max_size=400,
    ),
    st.integers(1, 90),
)
def test_the_values_a_rising_column_keeps_are_all_given_back(values: set[str], size: int) -> None:
    """Stretches of whole numbers kept as ranges, the rest deflated: all come back, once."""
    ordered = sorted(values, key=_key)
    run = cardinality._Run()
    for start in range(0, len(ordered), size):
        assert run.add(ordered[start : start + size])
    back = [v for chunk in run.values() for v in chunk]
    assert sorted(back, key=_key) == ordered and run.count == len(ordered)


def test_whole_numbers_in_a_row_are_kept_as_one_range() -> None:
    counter = _fed([str(n) for n in range(1, 200_001)], DistinctCounter(5_000, 12))
    assert counter.exact and counter.value() == 200_000
    assert counter.run is not None and counter.run.size < 2_000  # IDs 5002… in one range
    _fed([str(n) for n in range(100, 3_100)], counter)  # goes down: sketched from all
    assert not counter.exact and abs(counter.value() - 200_000) <= 0.05 * 200_000


def test_sorted_references_with_gaps_are_kept_as_gaps_well_under_a_byte_each() -> None:
    """A file sorted by patient: each patient referred to a few times, some never."""
    rng = random.Random(3)
    patients = list(accumulate(rng.choices((1, 1, 1, 2, 3), k=150_000), initial=1000))
    refs = [str(p) for p in patients for _ in range(rng.randint(1, 4))]
    counter = _fed(refs, DistinctCounter(5_000, 12))
    assert counter.exact and counter.value() == len(set(refs)) == 150_001
    assert counter.run is not None and counter.run.size < 0.5 * 150_000
    back = [v for chunk in counter.run.values() for v in chunk]
    assert len(back) == counter.run.count == 150_001 and set(back) == set(refs)


def test_a_rising_column_too_large_to_keep_or_holding_the_separator_is_sketched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cardinality, "RUN_BYTES", 4_000)
    gaps = random.Random(7).choices(range(1, 1_000), k=60_000)  # gaps that do not deflate away
    counter = _fed(list(map(str, accumulate(gaps))), DistinctCounter(5_000, 12))
    assert not counter.exact and abs(counter.value() - 60_000) <= 0.05 * 60_000
    monkeypatch.undo()
    values = [f"{n:06d}" for n in range(8_000)]
    values[7_000] = "007000\x00"  # above the one before it, but holds the separator
    counter = _fed(values, DistinctCounter(5_000, 12))
    assert not counter.exact and abs(counter.value() - 8_000) <= 0.05 * 8_000
    values[3_000] = "003000\x00"  # held before the cap is passed
    counter = _fed(values, DistinctCounter(5_000, 12))
    assert not counter.exact and abs(counter.value() - 8_000) <= 0.05 * 8_000


def test_a_counter_told_not_to_estimate_stops_at_the_cap() -> None:
    counter = DistinctCounter(5_000, 12)
    counter.estimate = False
    _fed([f"2024-01-{n:06d}" for n in range(9_000, 0, -1)], counter)
    assert counter.capped and not counter.exact and counter.value() == 5_000
    assert counter.sketch is None and counter.seen is None and counter.run is None
    counter.update(["more"])
    assert counter.value() == 5_000


@pytest.mark.parametrize("size", [100, 3_000, 60_000])
def test_hyperloglog_error_stays_small(size: int) -> None:
    sketch = HyperLogLog()
    sketch.update(f"{n}" for n in range(size))
    sketch.update(f"{n}" for n in range(size // 2))  # repeats change nothing
    assert abs(sketch.estimate() - size) <= 0.05 * size


def reference_registers(texts: list[str], precision: int = 12) -> bytearray:
    """The registers a straightforward, one value at a time HyperLogLog over hash32 holds."""
    bits = 32 - precision
    registers = bytearray(1 << precision)
    for text in texts:
        h = hash32(text)
        index, low = h >> bits, h & ((1 << bits) - 1)
        registers[index] = max(registers[index], bits + 1 - low.bit_length())
    return registers


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(max_size=12), max_size=400),
    st.integers(min_value=1, max_value=300),
    st.integers(min_value=0, max_value=5_000),
)
def test_hyperloglog_matches_a_per_value_reference(texts: list[str], batch: int, warm: int) -> None:
    # warm values first so the floor rises and the batches take the floor path too
    values = [f"w{n}" for n in range(warm)] + texts
    sketch = HyperLogLog()
    for start in range(0, len(values), batch):
        sketch.update(values[start : start + batch])
    assert sketch.registers == reference_registers(values)
    before = bytes(sketch.registers), sketch.estimate()
    for start in range(0, len(values), batch):  # a value added twice changes nothing
        sketch.update(reversed(values[start : start + batch]))
    assert (bytes(sketch.registers), sketch.estimate()) == before


def test_hyperloglog_past_a_high_floor_matches_the_reference() -> None:
    values = [f"2024-01-{n % 28:02d} 10:{n % 60:02d} patient {n}" for n in range(100_000)]
    sketch = HyperLogLog()
    for start in range(0, len(values), 256):
        sketch.update(values[start : start + 256])
    assert min(sketch.registers) >= 2  # the floor path was taken
    assert sketch.registers == reference_registers(values)
    sketch.update(values[:1])
    assert sketch.registers == reference_registers(values)


def test_long_values_are_counted_by_digest() -> None:
    counter = DistinctCounter(10)
    note = "x" * 5000
    counter.update([note, note, note + "y"])
    assert counter.value() == 2
    assert counter.counts is not None and all(len(k) < 200 for k in counter.counts)


# --- reports ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory, messy: Path) -> tuple[Path, Path]:
    """A copy of the messy export with a script in a known and an unknown file; its reports."""
    root = tmp_path_factory.mktemp("hostile")
    export = root / "export"
    shutil.copytree(messy, export)
    rows = list(csv.reader((export / "locations.csv").open(encoding="utf-8", newline="")))
    rows[1][rows[0].index("City")] = HOSTILE
    with open(export / "locations.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    write_csv(export, "extras", [["Comment", HOSTILE], [HOSTILE, "x"], ["plain", "y"]])
    out = root / "audit"
    write_audit(audit(export), out)
    return export, out


def test_html_report_escapes_hostile_values(hostile_report: tuple[Path, Path]) -> None:
    _, out = hostile_report
    html = (out / "schema-inventory.html").read_text()
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "extras" in html


def test_reports_are_owner_only(hostile_report: tuple[Path, Path]) -> None:
    _, out = hostile_report
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "rejects.csv",
        "schema-inventory.csv",
        "schema-inventory.html",
        "schema-inventory.json",
    ]
    assert {stat.S_IMODE((out / n).stat().st_mode) for n in names} == {0o600}


def test_personal_values_never_reach_the_reports(hostile_report: tuple[Path, Path]) -> None:
    export, out = hostile_report
    patients = [r for r in open_export(export).read("patients") if isinstance(r, Row)]
    personal = {str(r.values["Email"]) for r in patients if r.values["Email"]}
    personal |= {str(r.values["MobilePhone"]) for r in patients if r.values["MobilePhone"]}
    personal |= {f"{r.values['FirstName']} {r.values['LastName']}" for r in patients}
    personal = {value for value in personal if len(value) >= 7}  # not junk such as "123"
    assert len(personal) > 2 * PATIENTS
    for name in ("schema-inventory.html", "schema-inventory.csv", "schema-inventory.json"):
        text = (out / name).read_text()
        assert not [value for value in personal if value in text], name
    profiles = json.loads((out / "schema-inventory.json").read_text())["files"]
    email = next(
        c
        for f in profiles
        if f["file"] == "patients"
        for c in f["columns"]
        if c["column"] == "Email"
    )
    assert email["personal"] and email["examples"]
    assert all("***@" in e for e in email["examples"])


def test_unmask_shows_values(messy: Path) -> None:
    report = audit(messy, unmask=True)
    email = next(c for c in report.profiles if (c.file, c.column) == ("patients", "Email"))
    assert email.examples and not any("***" in e for e in email.examples)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(categories=["L"]), min_size=3, max_size=20))
def test_mask_hides_all_but_the_first_letter_of_a_name(name: str) -> None:
    masked = mask(name)
    assert masked.startswith(name[0]) and name[1:] not in masked


def test_longest_text_is_measured_once_per_new_text_as_it_would_be_per_cell(
    tmp_path: Path,
) -> None:
    """The reader measures a column's longest text once per new text (a column of repeated
    cells) or once per batch (a column of new ones); the profile's ``max_length`` is what a
    pass over every non-null stripped text gives, nulls (``NULL``) never counted."""
    export = tmp_path / "export"
    export.mkdir()
    header = ["CarrierID", "Name", "Phone", "Note", "Code"]
    rows = []
    for n in range(1, 1200):  # several batches: a repeated column and columns of new texts
        name = " Delta Dental " if n % 3 else "NULL"
        note = f"note {n}" + (" x" * (n % 97))
        code = "N/A" if n % 2 else f"{n:03d}"[-3:]  # new short texts, nulls spelled longer
        rows.append([str(n), name, "NULL" if n % 5 else f"555-01{n:04d}", note, code])
    rows.append(["1200", "  A" + "b" * 70 + "  ", "NULL", "short", "none"])  # longest, late
    with (export / "insurance_carriers.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    report = audit_export(open_export(export), Settings())
    profiles = {p.column: p for p in report.profiles if p.file == "insurance_carriers"}
    for position, column in enumerate(header):
        texts = [r[position].strip() for r in rows]
        expected = max((len(t) for t in texts if t and t not in ("NULL", "N/A", "none")), default=0)
        assert profiles[column].max_length == expected, column


def test_the_audit_counts_rows_repeating_an_earlier_rows_id(tmp_path: Path) -> None:
    """A patient ID on two rows (once within a batch, once across the file) is counted per
    file and shown as damage with what the run will do; the generated export has none."""
    export = tmp_path / "export"
    generate_export(export, 5, seed=2)
    with open_export(export) as clean:
        assert audit_export(clean, Settings()).damage.repeated_ids == {}
    path = export / "patients.csv"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows += [rows[1], list(rows[2])]
    rows[-1][rows[0].index("FirstName")] = "Other"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    with open_export(export) as damaged:
        report = audit_export(damaged, Settings())
    assert report.damage.repeated_ids == {"patients.PatientID": 2}
    from flitstack.source.audit_report import damage_rows

    shown = {what: n for what, n, _ in damage_rows(report)}
    assert shown["Rows repeating an earlier row's ID: patients.PatientID"] == 2
