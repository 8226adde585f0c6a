"""The estimate against what a real migration (sample, full run, verify) into the sandbox spends."""

from __future__ import annotations

import asyncio
import json
import math
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from flitstack.cli import app
from flitstack.engine.load import LoadContext, Write
from flitstack.engine.migration import Migration
from flitstack.engine.objects import KINDS, SourceKind
from flitstack.engine.state import StateStore
from flitstack.journey import estimate
from flitstack.journey.estimate import Call, Estimate, estimate_migration, grade, write_estimate
from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.governor import RateGovernor
from flitstack.pipedrive.plans import PLAN_BURST, UnknownPlan, daily_budget
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export
from flitstack.source.mess import MessRates

SETTINGS = Settings(timezone="America/Chicago")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("estimate") / "export"
    generate_export(path, 12, seed=44)
    return path


SAMPLE = 5


@pytest.fixture(scope="module")
def est(export: Path) -> Estimate:
    return estimate_migration(export, "advanced", 2, SETTINGS, sample_patients=SAMPLE)


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every kind of damage (tests/source/test_renamed_exports.py checks it is all there):
    orphans, deleted patients, missing document files, rows rejected on reading…"""
    path = tmp_path_factory.mktemp("estimate-messy") / "export"
    generate_export(path, 40, seed=21, mess=MessRates().scaled(4))
    return path


def _real_flow(export: Path, sample: int, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """setup, migrate --sample, its diff, migrate, verify: as the CLI runs them, in a sandbox."""
    workbook = save_workbook(propose_map(export, SETTINGS), tmp_path / "map.yaml")
    confirm_workbook(workbook, "test", protection_as_proposed=True)
    config = SandboxConfig(burst_limit=10_000, search_burst_limit=10_000, daily_budget=10**9)
    with running_sandbox(config) as sb:

        async def go() -> None:
            fast = RateGovernor(initial_limit=10_000)  # the sandbox's burst limit is raised
            async with PipedriveClient(sb.base_url, sb.api_token, fast) as pd:
                state = StateStore(tmp_path / "state.sqlite")

                def new() -> Migration:
                    return Migration(export, workbook, state, pd, SETTINGS)

                await new().setup()
                first = new()
                await first.migrate(sample, "sample")
                await first.verify(first.run_id, "sample")
                await new().migrate()
                await new().verify(None, "full")

        asyncio.run(go())
        return sb.dump(), sb.stats()


@pytest.mark.parametrize(("which", "sample"), [("export", SAMPLE), ("messy", 7)])
def test_requests_and_tokens_equal_what_the_real_flow_spends(
    which: str, sample: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    export = request.getfixturevalue(which)
    est = (
        request.getfixturevalue("est")
        if which == "export"
        else estimate_migration(export, "advanced", 2, SETTINGS, sample_patients=sample)
    )
    dump, stats = _real_flow(export, sample, tmp_path)
    predicted = {load.object: load.records for load in est.loads}
    for kind in ("organizations", "persons", "activities", "deals", "notes", "files"):
        assert predicted[kind] == len(dump[kind]), kind
    assert predicted["setup: pipelines"] == len(dump["pipelines"])
    assert predicted["setup: stages"] == len(dump["stages"])
    assert predicted["full read-back"] == est.records_written
    assert 0 < predicted["sample read-back"] < est.records_written
    assert (est.requests, est.tokens) == (stats["requests"], stats["tokens_used"])


class _OneNoteEach(SourceKind):
    """A toy kind: one note on each migrated patient's person."""

    name = "toy_note_each"
    creates = "notes"
    after = ("patients",)

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        for pid in ctx.patients:
            yield Write("notes", f"toy:{pid}", dict, person=pid)


def test_the_counts_come_from_the_declared_kinds(
    export: Path, est: Estimate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kind declared is counted with no estimate code to change: the estimate runs the
    engine's kinds dry (full run and the sample the engine picks), it keeps no copy of them."""
    monkeypatch.setattr(estimate, "KINDS", [*KINDS, _OneNoteEach()])
    more = estimate_migration(export, "advanced", 2, SETTINGS, sample_patients=SAMPLE)
    was = {load.object: load for load in est.loads}
    now = {load.object: load for load in more.loads}
    persons = was["persons"].records
    assert persons > SAMPLE
    assert now["notes"].records - was["notes"].records == persons
    assert now["full read-back"].records - was["full read-back"].records == persons
    assert now["sample read-back"].records - was["sample read-back"].records == SAMPLE
    create, read = Call("POST", "/v1/notes", 1).cost, Call("GET", "/v1/notes/{id}", 1).cost
    assert more.tokens - est.tokens == persons * (create + read) + SAMPLE * read
    unchanged = set(was) - {"notes", "full read-back", "sample read-back"}
    assert all(now[k].calls == was[k].calls for k in unchanged)


def test_tokens_days_and_time_follow_from_the_counts(est: Estimate) -> None:
    calls = [c for load in est.loads for c in load.calls]
    assert est.tokens == sum(c.count * c.cost for c in calls)
    assert est.requests == sum(c.count for c in calls)
    assert est.daily_budget == 30_000 * 2 * 2
    assert est.days == max(1, math.ceil(est.tokens / est.daily_budget))
    assert est.wall_seconds == pytest.approx(est.requests / (PLAN_BURST["advanced"] / 2 * 0.9))
    by_object = {load.object: load for load in est.loads}
    assert by_object["persons"].tokens_each == "5"  # v2 create
    assert by_object["notes"].tokens_each == "10"  # v1 notes
    assert by_object["full read-back"].tokens_each == "1–2"  # v2 get one 1, v1 get one 2
    assert by_object["setup: account reads"].tokens_each == "2–20"  # users/me … users list
    back = by_object["full read-back"]
    assert (
        back.tokens == est.records_written + by_object["notes"].records + by_object["files"].records
    )
    assert est.grade.letter in "ABCD" and len(est.grade.reasons) == 4


def test_reports_are_written_owner_only(est: Estimate, tmp_path: Path) -> None:
    html, data = write_estimate(est, tmp_path / "out")
    assert stat.S_IMODE(html.stat().st_mode) == 0o600
    saved = json.loads(data.read_text())
    assert saved["tokens"] == est.tokens and saved["days"] == est.days
    assert saved["objects"][0]["calls"][0]["tokens_each"] == 5
    assert f"{est.tokens:,}" in html.read_text()


@given(
    tokens=st.integers(min_value=0, max_value=50_000_000),
    seats=st.integers(min_value=1, max_value=200),
    plan=st.sampled_from(sorted(PLAN_BURST)),
)
def test_more_seats_never_need_more_days(tokens: int, seats: int, plan: str) -> None:
    def days(n: int) -> int:
        return max(1, math.ceil(tokens / daily_budget(plan, n)))

    assert days(seats + 1) <= days(seats)
    assert daily_budget(plan, seats) == daily_budget(plan, 1) * seats


def test_grades_rise_with_mapping_volume_and_days() -> None:
    easy = grade(10, 2, 100, 0, 5_000, 1)
    hard = grade(3, 9, 100, 20, 900_000, 9)
    assert (easy.letter, hard.letter) == ("A", "D")
    assert "9 of 12 objects need a mapping" in hard.reasons[0]


def test_unknown_plan_and_bad_seats_are_refused(export: Path) -> None:
    with pytest.raises(UnknownPlan, match="essential, advanced"):
        estimate_migration(export, "gold", 1)
    with pytest.raises(ValueError, match="seats"):
        estimate_migration(export, "advanced", 0)
    with pytest.raises(ValueError, match="sample"):
        estimate_migration(export, "advanced", 1, sample_patients=0)
    result = CliRunner().invoke(app, ["estimate", str(export), "--plan", "gold"])
    assert result.exit_code == 2
    assert "unknown Pipedrive plan 'gold'" in result.output


def test_cli_prints_the_table_and_writes_the_page(export: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["estimate", str(export), "--plan", "power", "--seats", "4", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "API use by object" in result.output and "Daily budget 600,000 tokens" in result.output
    assert (tmp_path / "estimate.html").exists()
