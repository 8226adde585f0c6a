"""The sample gate cannot be fooled: losses are measured from the source files, not the payload.

Every appointment's patient reference is broken on purpose. The sample's read-back diff is
clean (Pipedrive holds what was sent), but the check against the source sees appointments.csv
lose all its rows: the sample is not clean, the full run is refused and writes nothing. With
the loss accepted in the workbook (a reason, confirmed), the full run proceeds.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flitstack.engine.migration import Migration
from flitstack.engine.state import StateStore
from flitstack.engine.truth import plausible
from flitstack.engine.verify import DiffReport, SampleNotClean, require_clean_sample
from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import accept_loss, load_workbook, save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export
from flitstack.source.schema import Kind

SETTINGS = Settings(timezone="America/Chicago")


def _break_appointments(export: Path) -> int:
    path = export / "appointments.csv"
    with path.open(encoding="utf-8-sig", newline="", errors="surrogateescape") as fh:
        rows = list(csv.reader(fh))
    at = rows[0].index("PatientID")
    for n, row in enumerate(rows[1:]):
        if len(row) > at:
            row[at] = f"GONE-{n}"
    with path.open("w", encoding="utf-8", newline="", errors="surrogateescape") as fh:
        csv.writer(fh).writerows(rows)
    return len(rows) - 1


def _rewrite(path: Path, change: Callable[[list[list[str]]], Any]) -> list[list[str]]:
    """Read a CSV of the export, let ``change`` edit its rows in place, write it back."""
    with path.open(encoding="utf-8-sig", newline="", errors="surrogateescape") as fh:
        rows = list(csv.reader(fh))
    change(rows)
    with path.open("w", encoding="utf-8", newline="", errors="surrogateescape") as fh:
        csv.writer(fh).writerows(rows)
    return rows


def _migrate_and_verify(export: Path, root: Path) -> tuple[Any, DiffReport, StateStore]:
    """Propose and confirm the map, migrate the whole export into a new sandbox, verify."""
    workbook = save_workbook(propose_map(export, SETTINGS), root / "map.yaml")
    confirm_workbook(workbook, "test", protection_as_proposed=True)
    state = StateStore(root / "s.sqlite")
    with running_sandbox(SandboxConfig(burst_limit=1000, search_burst_limit=1000)) as sb:

        async def go() -> tuple[Any, DiffReport]:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                m = Migration(export, workbook, state, pd, SETTINGS)
                summary = await m.migrate()
                return summary, await m.verify(None, "full")

        summary, report = asyncio.run(go())
    return summary, report, state


@pytest.fixture
def broken(tmp_path: Path) -> tuple[Path, Path]:
    export = tmp_path / "export"
    generate_export(export, 30, seed=4)
    _break_appointments(export)
    workbook = save_workbook(propose_map(export, SETTINGS), tmp_path / "map.yaml")
    confirm_workbook(workbook, "test", protection_as_proposed=True)
    return export, workbook


def _run(sb: Any, export: Path, workbook: Path, state: Path, sample: int | None) -> Any:
    async def go() -> Any:
        async with PipedriveClient(sb.base_url, sb.api_token) as pd:
            m = Migration(export, workbook, StateStore(state), pd, SETTINGS)
            if sample:
                await m.migrate(sample, "sample")
                return await m.verify(m.run_id, "sample")
            require_clean_sample(m.state, m.wb)
            return await m.migrate()

    return asyncio.run(go())


def test_a_sample_that_loses_every_appointment_is_not_clean_and_the_full_run_is_refused(
    broken: tuple[Path, Path], tmp_path: Path
) -> None:
    export, workbook = broken
    state = tmp_path / "state.sqlite"
    config = SandboxConfig(burst_limit=1000, search_burst_limit=1000)
    with running_sandbox(config) as sb:
        report: DiffReport = _run(sb, export, workbook, state, 8)
        assert not report.differences and not report.missing  # what was sent did arrive
        assert report.truth is not None and not report.clean
        lines = report.truth.blocking()
        assert any(line.startswith("appointments.csv:") and "100.0%" in line for line in lines)
        appointments = next(f for f in report.truth.files if f.file == "appointments")
        assert appointments.rejected == appointments.rows
        assert appointments.reasons["its patient does not exist (orphan)"] >= appointments.rows - 1

        # the full run is refused, naming the file and its count, and writes nothing
        before = sb.dump()
        with pytest.raises(SampleNotClean, match=r"appointments\.csv: \d+ rows rejected"):
            _run(sb, export, workbook, state, None)
        assert sb.dump() == before

        # a person accepts that loss (and the sample's other named losses) with a reason
        store = StateStore(state)
        for loss in store.losses(store.last_check("sample")["run_id"]):  # type: ignore[index]
            accept_loss(workbook, loss["file"], loss["column"], "the MDC export lost the links")
        with pytest.raises(Exception, match="edited after"):
            _run(sb, export, workbook, state, None)  # the decision must be confirmed first
        confirm_workbook(workbook, "Practice Manager", protection_as_proposed=True)
        assert load_workbook(workbook).accepted_losses
        summary = _run(sb, export, workbook, state, None)
        assert summary.unaccounted() == {}
        assert summary.rejected["appointments"] == appointments.rows
        assert len(sb.dump()["persons"]) >= 30 - 2


@pytest.mark.parametrize(
    ("role", "kind", "value", "why"),
    [
        ("DateOfBirth", None, "2059-05-06", "after the export date"),
        ("DateOfBirth", None, "1850-01-01", "more than 120 years"),
        ("DateOfBirth", None, "1959-05-06", None),
        ("StartDateTime", None, "2031-01-01", "outside the export's span"),
        ("StartDateTime", None, "2027-03-01", None),
        ("NoteDateTime", None, "2026-12-25", "outside the export's span"),
        ("TotalFee", Kind.MONEY, {"value": 2_500_000, "currency": "USD"}, "over 1,000,000"),
        ("TotalFee", Kind.MONEY, 1250.5, None),
        ("Email", Kind.EMAIL, "not-an-email@", "not a valid e-mail"),
        ("Email", Kind.EMAIL, "pat@mail.example.com", None),
        ("HomePhone", Kind.PHONE, "+1555", "not a possible phone number"),
        ("HomePhone", Kind.PHONE, "+12025550123", None),
    ],
)
def test_plausibility_rules(role: str, kind: Kind | None, value: object, why: str | None) -> None:
    from datetime import date

    found = plausible(role, kind, value, date(2026, 10, 31))
    assert (found is None) if why is None else (found is not None and why in found)


def test_rows_skipped_on_purpose_are_not_counted_as_lost_values(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 20, seed=6)

    def delete_first(rows: list[list[str]]) -> None:
        rows[1][rows[0].index("Status")] = "Deleted"  # the practice deleted this patient in MDC

    rows = _rewrite(export / "patients.csv", delete_first)
    _summary, report, _state = _migrate_and_verify(export, tmp_path)
    assert report.truth is not None
    reasons = {r for c in report.truth.columns for r in c.reasons}
    assert not any("Deleted" in r or "not migrated" in r for r in reasons), reasons
    patients = next(c for c in report.truth.columns if c.column == "PatientID" and
                    c.file == "patients")  # fmt: skip
    assert patients.non_empty == len(rows) - 2 and patients.lost == 0


def test_an_activity_whose_provider_is_not_in_the_export_is_a_lost_owner(tmp_path: Path) -> None:
    """The record arrives (owned by the fallback user), so the read-back diff is clean; the
    check against the source names the row whose provider points nowhere."""
    export = tmp_path / "export"
    generate_export(export, 20, seed=6)
    found: list[list[str]] = []

    def point_nowhere(rows: list[list[str]]) -> None:
        at = rows[0].index("ProviderID")
        found.append(next(r for r in rows[1:] if len(r) == len(rows[0]) and r[at]))
        found[0][at] = "NO-SUCH-PROVIDER"

    rows = _rewrite(export / "appointments.csv", point_nowhere)
    head, target = rows[0], found[0]
    _summary, report, state = _migrate_and_verify(export, tmp_path)
    # the run itself flags it, where the practice looks for rows to review
    flagged = [(o["source_id"], o["line"], o["field"], o["reason"]) for o in state.outcomes()
               if o["outcome"] == "flagged" and o["field"] == "ProviderID"]  # fmt: skip
    assert flagged == [(
        target[head.index("AppointmentID")], rows.index(target) + 1, "ProviderID",
        "provider NO-SUCH-PROVIDER is not in the export: owned by the fallback user",
    )]  # fmt: skip
    assert report.truth is not None
    owners = {(c.file, c.column): c for c in report.truth.columns if c.column == "ProviderID"}
    lost = owners.pop(("appointments", "ProviderID"))
    assert lost.lost == 1, lost
    assert lost.examples == [
        f"appointments:{target[head.index('AppointmentID')]} line {rows.index(target) + 1}: "
        "provider NO-SUCH-PROVIDER is not in the export: owned by the fallback user"
    ]
    assert all(c.lost == 0 for c in owners.values()), owners  # every other owner checked


def test_an_owner_must_be_its_providers_user() -> None:
    from datetime import date

    from flitstack.engine.records import Setup
    from flitstack.engine.truth import _why_lost
    from flitstack.mapping.workbook import ColumnMap

    column = ColumnMap(file="appointments", column="ProviderID", role="ProviderID",
                       target="activity", field="owner_id")  # fmt: skip
    setup = Setup(provider_users={"7": 41, "8": 42}, fallback_user=40)

    def why(raw: str, held: object) -> str | None:
        return _why_lost(column, {"owner_id": held}, setup, raw, None, date.today(), _NoSpec())

    assert why("7", 41) is None
    assert why("7", {"id": 41, "value": 41}) is None  # v1 shape
    assert why(" 8 ", 42) is None
    assert why("7", 42) == "owned by another user than its provider's"
    assert why("9", 40) == "its provider is not in the export: owned by the fallback user"


class _NoSpec:
    def column(self, name: str) -> None:
        return None


def test_a_plan_item_whose_plan_is_not_in_the_export_is_an_orphan(tmp_path: Path) -> None:
    """An item naming a plan the export does not hold is rejected as an orphan (as a row of a
    missing patient is), not skipped as if its plan had been left out; one naming no plan is
    rejected as it is read; the check against the source counts both, each with its reason."""
    export = tmp_path / "export"
    generate_export(export, 20, seed=6)
    broken: list[list[str]] = []

    def break_two(rows: list[list[str]]) -> None:
        at = rows[0].index("TreatmentPlanID")
        broken.extend([r for r in rows[1:] if len(r) == len(rows[0]) and r[at]][:2])
        broken[0][at], broken[1][at] = "99999", ""

    rows = _rewrite(export / "treatment_plan_items.csv", break_two)
    id_at = rows[0].index("ItemID")
    orphan = broken[0]  # the second names no plan: the reader rejects it
    summary, report, state = _migrate_and_verify(export, tmp_path)
    outcomes = {o["source_id"]: o for o in state.outcomes()
                if o["file"] == "treatment_plan_items"}  # fmt: skip
    assert outcomes[orphan[id_at]]["outcome"] == "rejected"
    assert outcomes[orphan[id_at]]["reason"] == "treatment plan 99999 does not exist (orphan)"
    assert outcomes[orphan[id_at]]["line"] == rows.index(orphan) + 1
    assert summary.rejected["treatment_plan_items"] == 2
    assert report.truth is not None
    items = next(f for f in report.truth.files if f.file == "treatment_plan_items")
    assert items.rejected == 2
    assert items.reasons["its treatment plan does not exist (orphan)"] == 1
    assert items.reasons["required value TreatmentPlanID is missing"] == 1
    assert not any(o["outcome"] == "skipped" for o in outcomes.values())  # no plan left out


def test_a_row_repeating_an_earlier_rows_id_is_reported_and_the_first_is_checked(
    tmp_path: Path,
) -> None:
    """Two rows of patients.csv with one ID and different names: the first is migrated, the
    second rejected with both lines named (not left unaccounted); an appointment row given
    twice, word for word, is skipped as a copy (nothing lost). The source check still checks
    the first patient's values, and counts the second as rejected."""
    export = tmp_path / "export"
    generate_export(export, 20, seed=6)
    copies: dict[str, list[str]] = {}

    def repeat_a_patient(rows: list[list[str]]) -> None:
        twin = list(rows[3])
        twin[rows[0].index("FirstName")] = "Zebediah"
        rows.append(twin)
        copies["patient"] = twin

    def repeat_an_appointment(rows: list[list[str]]) -> None:
        rows.insert(9, list(rows[4]))
        copies["appointment"] = rows[4]

    patients = _rewrite(export / "patients.csv", repeat_a_patient)
    appointments = _rewrite(export / "appointments.csv", repeat_an_appointment)
    summary, report, state = _migrate_and_verify(export, tmp_path)
    assert summary.unaccounted() == {}
    pid = copies["patient"][0]
    noted = {(o["file"], o["line"]): o for o in state.outcomes()}
    twin = noted[("patients", len(patients))]
    assert (twin["source_id"], twin["outcome"], twin["field"]) == (pid, "rejected", "PatientID")
    assert twin["reason"] == (
        f"PatientID {pid} is also on line 4, with other values: only that first row is migrated"
    )
    copy = noted[("appointments", 10)]
    assert copy["outcome"] == "skipped" and copy["reason"].startswith("the same row as line 5")
    assert summary.rejected["patients"] >= 1 and summary.skipped["appointments"] >= 1
    assert report.truth is not None
    files = {f.file: f for f in report.truth.files}
    assert files["patients"].reasons[twin["reason"]] == 1
    first_names = next(c for c in report.truth.columns if c.file == "patients"
                       and c.column == "FirstName")  # fmt: skip
    assert first_names.lost == 0 and first_names.non_empty >= len(patients) - 3
    assert len(appointments) > 10


def test_payments_without_a_readable_day_do_not_stop_the_run(tmp_path: Path) -> None:
    """Every ledger entry's day is unreadable: the balance is still the entries' sum, no person
    gets an empty "last payment date" (Pipedrive refuses one, which used to fail the whole
    run), and every row is accounted for."""
    export = tmp_path / "export"
    generate_export(export, 20, seed=9)

    def no_days(rows: list[list[str]]) -> None:
        at = rows[0].index("EntryDate")
        for row in rows[1:]:
            if len(row) > at:
                row[at] = "31/31/2021"

    _rewrite(export / "ledger_entries.csv", no_days)
    summary, report, state = _migrate_and_verify(export, tmp_path)
    assert summary.unaccounted() == {}
    assert summary.merged["ledger_entries"] > 0
    persons = [body for _key, kind, _id, body in state.payloads() if kind == "persons"]
    assert len(persons) > 10
    for body in persons:  # custom fields sit under hash keys: no value may be empty text
        values = [*body.values(), *(body.get("custom_fields") or {}).values()]
        assert "" not in values, body
    assert report.differences == []
