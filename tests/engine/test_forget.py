"""Erasure: `forget` deletes one patient and everything linked to them from the account and
the local state, touching nothing of any other patient; `purge` removes local copies."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from flitstack.api import Migrator
from flitstack.cli import app
from flitstack.project import Project
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export


def _linked(dump: dict[str, list[dict]], person: int) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {"persons": {person}}
    for kind in ("deals", "activities", "notes", "files"):
        out[kind] = {r["id"] for r in dump.get(kind, []) if r.get("person_id") == person}
    return out


def test_forget_erases_one_patient_and_nothing_else(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 10, seed=13)
    project = Project(
        root=tmp_path, settings=Settings(timezone="America/Chicago"),
        workbook=tmp_path / "m.yaml", state=tmp_path / "s.sqlite", reports=tmp_path / "reports",
    )  # fmt: skip
    with running_sandbox(SandboxConfig(burst_limit=1000, search_burst_limit=1000)) as sb:
        m = Migrator(project, token=sb.api_token, api_root=sb.base_url)
        m.propose(export)
        m.confirm(by="Test", protection_as_proposed=True)
        m.migrate(export, skip_sample_gate=True)
        m.verify(export)  # writes nothing to reports here; the state holds payloads
        before = sb.dump()
        conn = sqlite3.connect(tmp_path / "s.sqlite")
        persons = dict(conn.execute("SELECT key, pd_id FROM idmap WHERE kind='persons'"))
        # the patient with the most linked records
        pid, person = max(
            ((k.split(":", 1)[1], v) for k, v in persons.items() if k.startswith("patients:")),
            key=lambda kv: sum(len(s) for s in _linked(before, kv[1]).values()),
        )
        linked = _linked(before, person)
        assert sum(len(s) for s in linked.values()) > 3
        (tmp_path / "reports").mkdir(exist_ok=True)
        (tmp_path / "reports" / "x.csv").write_text(f"file,source_id\npatients,{pid}\nb,2\n")
        result = m.forget([pid, "no-such-patient"])
        after = sb.dump()
    assert result["patients"] == 1 and result["not_found"] == ["no-such-patient"]
    for kind, ids in linked.items():
        assert not ids & {r["id"] for r in after.get(kind, [])}, kind
        # every other record is exactly as it was
        others_before = [r for r in before.get(kind, []) if r["id"] not in ids]
        assert after.get(kind, []) == others_before, kind
    text = "\n".join(
        json.dumps(row) for table in ("idmap", "payloads", "outcomes", "audit", "intents")
        for row in conn.execute(f"SELECT * FROM {table}")
    )  # fmt: skip
    assert f'patients:{pid}"' not in text and "(forgotten)" in text
    assert f"{person}" in text  # the audit keeps the deleted records' Pipedrive IDs
    assert "b,2" in (tmp_path / "reports" / "x.csv").read_text()
    assert f"patients,{pid}" not in (tmp_path / "reports" / "x.csv").read_text()


def test_purge_removes_local_copies_after_asking(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    export = tmp_path / "export"
    generate_export(export, 4, seed=2)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flitstack.toml").write_text('[practice]\ntimezone = "America/Chicago"\n')
    runner = CliRunner()
    assert runner.invoke(app, ["map", "propose", str(export)]).exit_code == 0
    (tmp_path / "flitstack-state.sqlite").write_bytes(b"")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "sample-diff.csv").write_text("x\n")
    refused = runner.invoke(app, ["purge"], input="n\n")
    assert refused.exit_code == 1 and (tmp_path / "reports").exists()
    done = runner.invoke(app, ["purge"], input="y\n")
    assert done.exit_code == 0, done.output
    assert (
        not (tmp_path / "reports").exists() and not (tmp_path / "flitstack-state.sqlite").exists()
    )
    assert "failing:" not in (tmp_path / "flitstack-map.yaml").read_text() or all(
        "failing: []" in line or "failing:" not in line
        for line in (tmp_path / "flitstack-map.yaml").read_text().splitlines()
    )
