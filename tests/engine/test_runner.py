"""The generic runner on an in-memory target: ordering, accounting, orphans, skips, a toy kind.

No server, no SQLite: the declared kinds run against :class:`InMemoryTarget`, so these checks
take milliseconds. The journeys against the sandbox live in the other engine tests.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from flitstack.engine.load import Accounting, LoadContext, Runner, Write, run_kinds
from flitstack.engine.objects import KINDS, SourceKind
from flitstack.engine.records import ENGINE_FIELDS, Builder, Setup
from flitstack.engine.target import InMemoryTarget
from flitstack.mapping.propose import propose_map
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import Workbook
from flitstack.pipedrive.kinds import LOAD_ORDER
from flitstack.settings import Settings
from flitstack.source.generator import generate_export
from flitstack.source.reader import Reject, Row, open_export

SETTINGS = Settings(timezone="America/Chicago")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runner") / "export"
    generate_export(root, 12, seed=31)
    # a toy file the MDC format does not know: one allergy per row, one of them an orphan
    with (root / "allergies.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["AllergyID", "PatientID", "Allergy"])
        w.writerows([["A1", "1001", "Penicillin"], ["A2", "1002", "Latex"],
                     ["A3", "99999", "Codeine"]])  # fmt: skip
    _edit(root / "appointments.csv", lambda h: [["X1", "88888"] + [""] * (len(h) - 2)], None)
    _edit(root / "patients.csv", lambda h: [], lambda h, r: r[h.index("PatientID")] == "1003"
          and r.__setitem__(h.index("Status"), "Deleted"))  # fmt: skip
    return root


def _edit(path: Path, add: Any, change: Any) -> None:
    with path.open(encoding="utf-8-sig", newline="", errors="surrogateescape") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    for r in rows[1:]:
        if change is not None and len(r) == len(header):
            change(header, r)
    rows.extend(add(header))
    with path.open("w", encoding="utf-8", newline="", errors="surrogateescape") as fh:
        csv.writer(fh).writerows(rows)


@pytest.fixture(scope="module")
def workbook(export: Path) -> Workbook:
    return propose_map(export, SETTINGS)


def _setup(wb: Workbook) -> Setup:
    s = Setup(fallback_user=1, activity_types={"meeting", "task", "call"})
    n = 0
    for pipe in wb.pipelines:
        n += 1
        s.pipelines[pipe.name] = n
        for stage in pipe.stages:
            n += 1
            s.stages[(pipe.name, stage)] = n
    for (target, name), custom in wb.custom_fields().items():
        s.fields[(target, name)] = {"key": f"h_{name}", "type": custom.field_type, "options": {}}
    for target, name, ftype, _ in ENGINE_FIELDS:
        s.fields.setdefault((target, name), {"key": f"h_{name}", "type": ftype, "options": {}})
    return s


def _run(
    export: Path, wb: Workbook, kinds: Iterable[SourceKind] = KINDS,
    chosen: set[str] | None = None,
) -> tuple[InMemoryTarget, LoadContext, list[tuple[Any, ...]], dict[str, int]]:  # fmt: skip
    notes: list[tuple[Any, ...]] = []
    target = InMemoryTarget()
    with open_export(export, Bindings.from_workbook(wb)) as ex:
        rows: dict[str, list[Row]] = {}
        accounting = Accounting(lambda *o: notes.append(o))
        for name in ex.csv_files():
            for item in ex.read(name):
                accounting.source_rows[name] += 1
                if isinstance(item, Reject):
                    accounting.row(name, None, "rejected", count=1)
                else:
                    rows.setdefault(name, []).append(item)
        b = Builder(wb, SETTINGS, _setup(wb))
        b.providers = {r.source_id: r for r in rows.get("providers", [])}
        b.locations = {r.source_id: r for r in rows.get("locations", [])}
        ctx = asyncio.run(
            run_kinds(kinds, target, b, rows, accounting, chosen=chosen, shared={"export": ex})
        )
    return target, ctx, notes, dict(accounting.source_rows)


def _accounted(ctx: LoadContext, source_rows: dict[str, int]) -> dict[str, int]:
    """Rows with no outcome (or more than one), by file: must be empty."""
    out = {}
    for file, n in source_rows.items():
        done = sum(ctx.accounting.outcomes[o][file] for o in ctx.accounting.outcomes)
        if done != n:
            out[file] = n - done
    return out


def test_kinds_run_in_dependency_order(export: Path, workbook: Workbook) -> None:
    target, _, _, _ = _run(export, workbook)
    first = {}
    for i, (kind, _key) in enumerate(target.order):
        first.setdefault(kind, i)
    last = {kind: i for i, (kind, _key) in enumerate(target.order)}
    assert last["organizations"] < first["persons"]
    assert last["persons"] < min(first["activities"], first["deals"], first["files"])
    assert first["notes"] > first["deals"]  # a plan's note needs its deal
    for batch in Runner(KINDS, target).batches():
        names = {k.name for k in batch}
        for kind in batch:
            assert not names & set(kind.after), kind.name
    assert set(LOAD_ORDER) >= {k for k, _ in target.order}


def test_every_source_row_gets_exactly_one_outcome(export: Path, workbook: Workbook) -> None:
    target, ctx, notes, source_rows = _run(export, workbook)
    assert _accounted(ctx, {f: n for f, n in source_rows.items() if f != "allergies"}) == {}
    migrated = ctx.accounting.outcomes["migrated"]
    assert migrated["patients"] == len(target.records["persons"])
    deals = sum(migrated[f] for f in ("treatment_plans", "lab_cases", "referrals"))
    assert deals == len(target.records["deals"])
    # what is noted one by one is exactly what is counted as skipped or rejected
    noted = {(n[0], n[4]) for n in notes}
    for outcome in ("skipped", "rejected"):
        for file, count in ctx.accounting.outcomes[outcome].items():
            if count and file != "patients":
                assert (file, outcome) in noted or file in source_rows


def test_orphans_are_rejected_and_children_of_deleted_patients_skipped(
    export: Path, workbook: Workbook, tmp_path: Path
) -> None:
    target, ctx, notes, _ = _run(export, workbook)
    orphans = [n for n in notes if n[4] == "rejected" and "(orphan)" in n[5]]
    assert ("appointments", "X1") in {(n[0], n[1]) for n in orphans}
    assert "appointments:X1" not in target.keys
    deleted = [n for n in notes if n[4] == "skipped" and n[5].startswith("patient not migrated")]
    assert deleted and "patients:1003" not in target.keys
    # choose two patients: everything of the others is skipped quietly, never rejected
    chosen = {"1001", "1002"}
    target, ctx, notes, source_rows = _run(export, workbook, chosen=chosen)
    assert len(target.records["persons"]) == 2
    assert ctx.accounting.outcomes["skipped"]["patients"] == source_rows["patients"] - 2
    rejected = [n for n in notes if n[4] == "rejected"]
    assert all("orphan" in n[5] or "missing" in n[5] for n in rejected)


class Allergies(SourceKind):
    """A toy source kind, declared in one small class: allergies → a note on the person."""

    name = "allergies"
    source = "allergies"
    creates = "notes"
    after = ("patients",)
    sample_feature = "allergy"

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        for pid, rows in ctx.children("allergies").items():
            for r in rows:
                ctx.accounting.row("allergies", r, "migrated")
                yield Write(
                    "notes", f"allergies:{r.source_id}",
                    lambda r=r, pid=pid: {"content": f"Allergy: {r.raw['Allergy']}",
                                          "person_id": ctx.person_of(pid)},
                    row=r, person=pid,
                )  # fmt: skip


def test_a_new_source_kind_is_one_declaration(export: Path, workbook: Workbook) -> None:
    target, ctx, _notes, source_rows = _run(export, workbook, [*KINDS, Allergies()])
    allergy_notes = [b for b in target.records["notes"].values()
                     if str(b.get("content", "")).startswith("Allergy:")]  # fmt: skip
    assert sorted(b["content"] for b in allergy_notes) == ["Allergy: Latex", "Allergy: Penicillin"]
    persons = target.records["persons"]
    assert all(b["person_id"] in persons for b in allergy_notes)
    # the orphan allergy is rejected by the runner, not by the declaration
    assert ctx.accounting.outcomes["rejected"]["allergies"] == 1
    assert _accounted(ctx, source_rows) == {}


def test_a_document_that_links_out_of_the_export_is_refused_never_read(
    export: Path, workbook: Workbook, tmp_path: Path
) -> None:
    copy = tmp_path / "export"
    generate_export(copy, 40, seed=5)
    workbook = propose_map(copy, SETTINGS)
    secret = tmp_path / "secret.txt"
    secret.write_text("not a patient document")
    with (copy / "documents.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    present = [r for r in rows if (copy / "documents" / r["FileName"]).is_file()]
    victim, traversal = present[0], present[1]
    (copy / "documents" / victim["FileName"]).unlink()
    (copy / "documents" / victim["FileName"]).symlink_to(secret)

    def escape(h: list[str], r: list[str]) -> None:
        if r[h.index("DocumentID")] == traversal["DocumentID"]:
            r[h.index("FileName")] = "../../secret.txt"

    _edit(copy / "documents.csv", lambda h: [], escape)
    target, _ctx, notes, _ = _run(copy, workbook)
    refused = {n[1]: n[5] for n in notes if n[0] == "documents" and n[4] == "rejected"}
    assert "link out of the documents folder" in refused[victim["DocumentID"]]
    assert "leads out of the documents folder" in refused[traversal["DocumentID"]]
    uploaded = [b for b in target.records["files"].values()]
    assert uploaded and all(b["file_size"] != secret.stat().st_size for b in uploaded)


def test_a_note_over_pipedrives_limit_is_attached_whole_as_a_file_and_flagged(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "export"
    generate_export(copy, 6, seed=5)
    long_text = "Perio charting. " * 12_000  # 192,000 characters
    victim: dict[str, str] = {}

    def lengthen(h: list[str], r: list[str]) -> None:
        if not victim:
            victim["id"] = r[h.index("NoteID")]
            r[h.index("Text")] = long_text

    _edit(copy / "clinical_notes.csv", lambda h: [], lengthen)
    wb = propose_map(copy, SETTINGS)
    target, ctx, _notes, source_rows = _run(copy, wb)
    assert _accounted(ctx, source_rows) == {}
    key = f"clinical_notes:{victim['id']}"
    note = target.records["notes"][target.keys[key]]
    attached = target.records["files"][target.keys[f"{key}:text"]]
    assert len(note["content"]) < 2_000 and attached["name"] in note["content"]
    assert attached["file_size"] == len(long_text.encode()) and attached["mime"] == "text/plain"
    assert attached["name"].startswith(f"mdc[clinical_notes {victim['id']}%3Atext]")
    flags = [p for p in ctx.builder.problems if p.source_id == victim["id"]]
    assert any("192,000 characters" in p.reason for p in flags)
    other = [b for k, b in target.records["notes"].items() if k != target.keys[key]]
    assert all(len(b["content"]) < 100_000 for b in other)
