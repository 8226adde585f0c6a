"""The engine against the sandbox over loopback: full run, faults, resume, rollback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from flitstack.engine.migration import LoadSummary, Migration
from flitstack.engine.state import StateStore
from flitstack.mapping.confirm import MapNotConfirmed, confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export

SETTINGS = Settings(timezone="America/Chicago")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("engine")
    export = root / "export"
    generate_export(export, 30, seed=5)
    workbook = save_workbook(propose_map(export, SETTINGS), root / "map.yaml")
    confirm_workbook(workbook, "test", protection_as_proposed=True)
    return export, workbook


def _config(**faults: Any) -> SandboxConfig:
    return SandboxConfig(
        burst_limit=1000,
        search_burst_limit=1000,
        seed=11,
        seed_persons=[{"name": "Already Here"}],
        seed_organizations=[{"name": "Existing Org"}],
        **faults,
    )


def _migrate(sb: Any, export: Path, workbook: Path, state: Path) -> LoadSummary:
    async def go() -> LoadSummary:
        async with PipedriveClient(sb.base_url, sb.api_token) as pd:
            return await Migration(export, workbook, StateStore(state), pd, SETTINGS).migrate()

    return asyncio.run(go())


def _no_duplicates(dump: dict[str, list[dict[str, Any]]]) -> None:
    persons = [p for p in dump["persons"] if p["custom_fields"]]
    source_ids = [
        v for p in persons for v in p["custom_fields"].values() if str(v).startswith("patients:")
    ]
    assert len(source_ids) == len(set(source_ids))
    markers = [a["note"].rsplit("MDC ref: ", 1)[-1] for a in dump["activities"]]
    assert len(markers) == len(set(markers))
    notes = [n["content"].rsplit("MDC ref: ", 1)[-1] for n in dump["notes"]]
    assert len(notes) == len(set(notes))


def test_full_run_accounts_for_every_row_and_rollback_restores_the_account(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    export, workbook = project
    with running_sandbox(_config()) as sb:
        before = sb.dump()
        summary = _migrate(sb, export, workbook, tmp_path / "state.sqlite")
        assert summary.unaccounted() == {}
        dump = sb.dump()
        assert len(dump["persons"]) == 1 + summary.migrated["patients"]
        assert len(dump["activities"]) >= summary.migrated["appointments"]
        _no_duplicates(dump)
        # a second run creates nothing new
        again = _migrate(sb, export, workbook, tmp_path / "state.sqlite")
        assert again.unaccounted() == {}
        assert {k: len(v) for k, v in sb.dump().items()} == {k: len(v) for k, v in dump.items()}

        async def rollback() -> dict[str, Any]:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                m = Migration(export, workbook, StateStore(tmp_path / "state.sqlite"), pd, SETTINGS)
                return await m.rollback()

        result = asyncio.run(rollback())
        assert result["differences"] == []
        after = sb.dump()
        for kind in ("persons", "organizations", "deals", "activities", "notes", "files"):
            assert [r["id"] for r in after[kind]] == [r["id"] for r in before[kind]], kind


def test_lost_responses_and_5xx_leave_no_duplicates(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    export, workbook = project
    with running_sandbox(_config(fault_lost_response_rate=0.05, fault_5xx_rate=0.05)) as sb:
        summary = _migrate(sb, export, workbook, tmp_path / "state.sqlite")
        assert summary.unaccounted() == {}
        assert sb.stats().get("lost_responses", 0) > 0
        dump = sb.dump()
        _no_duplicates(dump)
        created = StateStore(tmp_path / "state.sqlite").counts()
        assert len(dump["persons"]) - 1 == created["persons"]["created"]
        assert len(dump["notes"]) == created["notes"]["created"]


def test_nothing_is_written_without_a_confirmed_map(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    export, workbook = project
    edited = tmp_path / "map.yaml"
    edited.write_text(workbook.read_text().replace("reason: Deal title", "reason: edited", 1))
    with running_sandbox(_config()) as sb:
        with pytest.raises(MapNotConfirmed):
            _migrate(sb, export, edited, tmp_path / "state.sqlite")
        assert sb.dump()["persons"] == [
            p for p in sb.dump()["persons"] if p["name"] == "Already Here"
        ]
