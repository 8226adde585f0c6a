"""Every report CSV goes through one writer that keeps spreadsheets from running cell text.

OWASP "CSV Injection": a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to Excel, LibreOffice and Sheets; the writer puts a ``'`` in front of it,
unless the cell is a plain number such as ``-12.50``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flitstack.engine.migration import DeltaSummary, Migration
from flitstack.engine.reports import (
    write_audit_log,
    write_delta_report,
    write_provider_resolution,
    write_setup_report,
)
from flitstack.engine.run_report import write_outcomes
from flitstack.engine.state import StateStore
from flitstack.engine.verify import DiffReport, FieldCheck, write_diff
from flitstack.journey.rebuild import RebuildReference, RecallSequence, RuleGuide, write_reference
from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.reporting import csv_text, read_csv, restore_cell, safe_cell, write_csv
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.audit import AuditReport, FileAudit, RejectInfo
from flitstack.source.audit_report import write_audit
from flitstack.source.damage import Damage
from flitstack.source.generator import generate_export
from flitstack.source.profile import ColumnProfile

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "\t=1"]
# written independently of the implementation: digits, an optional fraction and exponent
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def live(cell: str) -> bool:
    """Would a spreadsheet evaluate this cell as a formula?"""
    return cell.startswith(TRIGGERS) and not NUMBER.fullmatch(cell)


def cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]


def assert_inert(path: Path, *expected: str) -> list[str]:
    """No live formula in the file, it is owner-only, and the hostile values come back."""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    found = cells(path.read_text(encoding="utf-8"))
    assert [c for c in found if live(c)] == []
    restored = {restore_cell(c) for c in found}
    for value in expected:
        assert any(value in r for r in restored), (value, path.name)
    return found


triggered = st.builds(lambda p, t: p + t, st.sampled_from([*TRIGGERS, "'", "''="]), st.text())
numbers = st.from_regex(NUMBER, fullmatch=True)
texts = st.one_of(st.text(), triggered, numbers, st.sampled_from(HOSTILE))


@given(texts)
def test_safe_cell_leaves_no_formula_and_loses_nothing(text: str) -> None:
    out = safe_cell(text)
    assert not live(out)
    assert out in (text, "'" + text)
    assert restore_cell(out) == text


@given(st.lists(st.lists(texts, min_size=1, max_size=4), min_size=1, max_size=5))
def test_csv_text_round_trips_through_a_csv_reader(rows: list[list[str]]) -> None:
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    header = [f"c{i}" for i in range(width)]
    read = list(csv.reader(io.StringIO(csv_text(header, rows), newline="")))
    assert not [c for r in read for c in r if live(c)]
    assert [[restore_cell(c) for c in r] for r in read[1:]] == rows


@pytest.mark.parametrize("number", ["-3", "-12.5", "-12.50", "+4", "0", "-0.5", "1e-05"])
def test_plain_numbers_stay_numbers(number: str) -> None:
    assert safe_cell(number) == number


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        (-3, "-3"),
        (-12.5, "-12.5"),
        (True, "True"),
        ("+1 555", "'+1 555"),
        ("-2+3", "'-2+3"),
        ("--1", "'--1"),
        ("-", "'-"),
        ("'=1", "''=1"),
        ("'-3", "''-3"),
        ("it's =1", "it's =1"),
        (" =1", " =1"),
    ],
)
def test_safe_cell_examples(value: Any, cell: str) -> None:
    assert safe_cell(value) == cell


def test_write_csv_and_read_csv(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x" / "t.csv", ["=h", "b"], [[h, -1.5] for h in HOSTILE])
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert_inert(path, "=h", *HOSTILE)
    assert read_csv(path) == [{"=h": h, "b": "-1.5"} for h in HOSTILE]


def test_engine_reports(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite")
    run = state.start_run("migrate")
    for i, h in enumerate(HOSTILE):
        state.audit(run, "POST", h, h, h, i, h, 1)
        state.note_outcome(run, h, h, i, h, "rejected", h)
        state.remember_setup("field", h, h, {"target": h}, True)
    resolution = [{"provider": h, "name": h, "email": h, "user_id": "-1", "resolution": h}
                  for h in HOSTILE]  # fmt: skip
    reports = tmp_path / "reports"
    found = assert_inert(write_provider_resolution(reports, resolution), *HOSTILE)
    assert "-1" in found  # a plain number stays a number
    assert read_csv(reports / "provider-resolution.csv") == resolution
    write_setup_report(reports, state, resolution)
    assert_inert(reports / "custom-fields.csv", *HOSTILE)
    delta = DeltaSummary(
        new_rows=Counter(),
        disappeared=[{"key": h, "object": h, "id": 1, "why": h} for h in HOSTILE],
    )
    write_delta_report(reports, delta, tmp_path / "export")
    assert_inert(reports / "delta-disappeared.csv", *HOSTILE)
    assert write_audit_log(state, reports / "audit-log.csv") == len(HOSTILE)
    assert_inert(reports / "audit-log.csv", *HOSTILE)
    assert_inert(write_outcomes(state, reports / "rejects-and-flags.csv"), *HOSTILE)


def test_diff_csv(tmp_path: Path) -> None:
    # the page groups records by "object|key|id", so those two hold no "|" here
    safe = [h.replace("|", "!") for h in HOSTILE]
    report = DiffReport(
        checks=[
            FieldCheck(s, s, 1, h, h, h, [{"value": h}], False)
            for s, h in zip(safe, HOSTILE, strict=True)
        ],
        records=Counter({"persons": len(HOSTILE)}),
    )
    _, path = write_diff(report, tmp_path, "Sample")
    assert_inert(path, *HOSTILE)


def test_schema_inventory_and_rejects_csv(tmp_path: Path) -> None:
    columns = [
        ColumnProfile(file="patients", column=h, known=False, examples=[h, h], problems={h: 1})
        for h in HOSTILE
    ]
    report = AuditReport(
        export=HOSTILE[0],
        manifest={},
        settings_used={},
        files=[FileAudit(file="patients", known=True, columns=columns)],
        missing_files=[],
        unknown_files=[],
        other_files=[],
        damage=Damage(),
        rejects=[RejectInfo(file=h, line=2, column=h, reason=h) for h in HOSTILE],
        rejects_total=len(HOSTILE),
    )
    paths = write_audit(report, tmp_path, {("patients", h): (h, h) for h in HOSTILE})
    assert_inert(paths.csv, *HOSTILE)
    assert_inert(paths.rejects, *HOSTILE)


def test_rebuild_reference_csv(tmp_path: Path) -> None:
    rules = [RuleGuide(h, h, True, h, [h], [h], h, [h], [h], h) for h in HOSTILE]
    ref = RebuildReference(HOSTILE[0], rules, [RecallSequence(HOSTILE[0], 1, 1, 0)])
    _, path = write_reference(ref, tmp_path)
    assert_inert(path, *HOSTILE)


def test_ledger_csv_attached_to_a_person(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger CSV uploaded to each person's files has no live formula; amounts stay numbers."""
    settings = Settings(timezone="America/Chicago")
    export = tmp_path / "export"
    generate_export(export, 6, seed=5)
    ledger = export / "ledger_entries.csv"
    raw = ledger.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        encoding = "cp1252"
    with ledger.open(newline="", encoding=encoding) as handle:
        rows = list(csv.DictReader(handle))
    for i, row in enumerate(rows):
        row["Description"] = HOSTILE[i % len(HOSTILE)]
    with ledger.open("w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    workbook = save_workbook(propose_map(export, settings), tmp_path / "map.yaml")
    confirm_workbook(workbook, "test", protection_as_proposed=True)

    uploads: dict[str, bytes] = {}
    original = PipedriveClient.upload_file

    async def capture(
        self: PipedriveClient, name: str, content: bytes, mime: str, links: dict[str, int]
    ) -> dict[str, Any]:
        uploads[name] = content
        return await original(self, name, content, mime, links)

    monkeypatch.setattr(PipedriveClient, "upload_file", capture)
    config = SandboxConfig(burst_limit=1000, search_burst_limit=1000, seed=3)
    with running_sandbox(config) as sb:

        async def go() -> None:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                state = StateStore(tmp_path / "state.sqlite")
                await Migration(export, workbook, state, pd, settings).migrate()

        asyncio.run(go())
    ledgers = {n: c.decode() for n, c in uploads.items() if n.startswith("mdc[ledger_entries ")}
    assert ledgers
    found = [c for text in ledgers.values() for c in cells(text)]
    assert [c for c in found if live(c)] == []
    restored = {restore_cell(c).strip() for c in found}
    assert {h.strip() for h in HOSTILE} <= restored
    assert any(c.startswith("-") and NUMBER.fullmatch(c) for c in found)  # e.g. -72.00
