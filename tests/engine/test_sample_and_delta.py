"""Sample diff read back from Pipedrive, delta pickup of a later export, rollback after both."""

from __future__ import annotations

import asyncio
import csv
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flitstack.engine.migration import DeltaSummary, Migration, NothingToFollow, pick_covering
from flitstack.engine.state import StateStore
from flitstack.engine.verify import DiffReport, SampleNotClean, require_clean_sample, write_diff
from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import AcceptedLoss, load_workbook, save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export
from flitstack.source.later import make_later_export

SETTINGS = Settings(timezone="America/Chicago")
T = TypeVar("T")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("delta")
    export = root / "export"
    generate_export(export, 40, seed=9)
    workbook = save_workbook(propose_map(export, SETTINGS), root / "map.yaml")
    confirm_workbook(workbook, "test", protection_as_proposed=True)
    return export, workbook


def _config() -> SandboxConfig:
    return SandboxConfig(
        burst_limit=1000,
        search_burst_limit=1000,
        seed=21,
        seed_persons=[{"name": "Already Here", "email": "already@here.example"}],
        seed_organizations=[{"name": "Existing Org"}],
    )


def _with_migration(
    sb: Any, export: Path, workbook: Path, state: Path, action: Callable[[Migration], Awaitable[T]]
) -> T:
    async def go() -> T:
        async with PipedriveClient(sb.base_url, sb.api_token) as pd:
            return await action(Migration(export, workbook, StateStore(state), pd, SETTINGS))

    return asyncio.run(go())


def test_sample_diff_is_clean_and_catches_a_field_changed_in_pipedrive(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    export, workbook = project
    state = tmp_path / "state.sqlite"
    with running_sandbox(_config()) as sb:

        async def sample(m: Migration) -> DiffReport:
            await m.migrate(6, "sample")
            return await m.verify(m.run_id, "sample")

        report = _with_migration(sb, export, workbook, state, sample)
        assert not report.differences and not report.missing, report.differences[:5]
        # the generated export is damaged on purpose (missing documents, invalid e-mails…):
        # the check against the source names each loss, and the gate holds until a person
        # accepts them in the workbook and confirms it again
        assert report.truth is not None
        lost = report.truth.over_limit()
        assert lost and not report.clean
        wb = load_workbook(workbook)
        with pytest.raises(SampleNotClean, match="loses more than 1%"):
            require_clean_sample(StateStore(state), wb)
        for loss in lost:
            wb.accepted_losses.append(
                AcceptedLoss(file=loss["file"], column=loss["column"], reason="test: known")
            )
        assert report.records["persons"] >= 6
        # the slice covers the hard cases the issue names
        for kind in ("persons", "activities", "deals", "notes", "files"):
            assert report.records.get(kind, 0) > 0, kind
        assert len(report.checks) > 100
        assert require_clean_sample(StateStore(state), wb)["fields"] == len(report.checks)
        html, csv_path = write_diff(report, tmp_path / "reports", "Sample")
        assert "Sample" in html.read_text()
        with csv_path.open(newline="") as handle:
            assert len(list(csv.DictReader(handle))) == len(report.checks)

        # someone edits a migrated person in Pipedrive: the next read-back must say so
        key, _, pd_id, _ = next(p for p in StateStore(state).payloads() if p[1] == "persons")

        async def edit_and_verify(m: Migration) -> DiffReport:
            await m.pd.patch("persons", pd_id, {"name": "Edited By Hand"})
            return await m.verify(m.run_id, "sample")

        after = _with_migration(sb, export, workbook, state, edit_and_verify)
        bad = [(c.key, c.field, c.actual) for c in after.differences]
        assert (key, "name", "Edited By Hand") in bad
        assert len(after.differences) == 1
        with pytest.raises(SampleNotClean):
            require_clean_sample(StateStore(state), wb)


def test_delta_follows_a_later_export_exactly_and_rollback_restores_the_start(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    export, workbook = project
    state = tmp_path / "state.sqlite"
    later = tmp_path / "later"
    edits = make_later_export(export, later, seed=3)
    assert stat.S_IMODE((later / "patients.csv").stat().st_mode) == 0o600  # patient data
    with running_sandbox(_config()) as sb:
        before = sb.dump()
        with pytest.raises(NothingToFollow):
            _with_migration(sb, export, workbook, state, lambda m: m.delta(later))
        _with_migration(sb, export, workbook, state, lambda m: m.migrate())
        migrated = sb.dump()

        delta = _with_migration(sb, later, workbook, state, lambda m: m.delta(later))
        assert delta.load.unaccounted() == {}
        store = StateStore(state)
        changed_patients = [
            p for p in edits.changed["patients"] if store.mapping(f"patients:{p}") is not None
        ]
        assert len(changed_patients) >= 3  # the fixture must exercise the path
        assert delta.new_rows["patients"] == 2
        assert delta.new_rows["appointments"] == 2
        assert delta.changed_rows["patients"] == len(changed_patients) + 1  # + the Deleted one
        assert delta.changed_rows["appointments"] == 2
        assert delta.changed_rows["treatment_plans"] == 1
        assert delta.created["persons"] == 2
        assert delta.created["activities"] == 2
        assert delta.updated["persons"] == len(changed_patients)
        assert delta.updated["activities"] == 2
        assert delta.updated["deals"] == 1
        gone = {d["key"] for d in delta.disappeared}
        assert f"patients:{edits.deleted['patients'][0]}" in gone

        dump = sb.dump()
        assert len(dump["persons"]) == len(migrated["persons"]) + 2
        assert len(dump["activities"]) == len(migrated["activities"]) + 2
        assert len(dump["deals"]) == len(migrated["deals"])
        by_id = {p["id"]: p for p in dump["persons"]}
        for pid in changed_patients:
            person = by_id[store.mapping(f"patients:{pid}")["pd_id"]]  # type: ignore[index]
            phones = " ".join(p["value"] for p in person["phones"])
            assert "555" in phones
        assert {u["object"] for u in delta.updates} == {"persons", "activities", "deals"}

        # a second pickup of the same export changes nothing
        again: DeltaSummary = _with_migration(sb, later, workbook, state, lambda m: m.delta(later))
        assert sum(again.created.values()) == 0
        assert sum(again.updated.values()) == 0
        assert {k: len(v) for k, v in sb.dump().items()} == {k: len(v) for k, v in dump.items()}

        # and the whole thing, delta included, rolls back to the account as it was
        result = _with_migration(sb, later, workbook, state, lambda m: m.rollback())
        assert result["differences"] == []
        after = sb.dump()
        for kind in ("persons", "organizations", "deals", "activities", "notes", "files"):
            assert [r["id"] for r in after[kind]] == [r["id"] for r in before[kind]], kind


@given(
    features=st.dictionaries(
        st.from_regex(r"[0-9]{1,4}", fullmatch=True),
        st.sets(st.sampled_from(["secondary", "plan", "lab", "recall", "docs", "notes"])),
        max_size=60,
    ),
    size=st.integers(min_value=0, max_value=80),
)
def test_the_sample_covers_every_hard_case_it_can(features: dict[str, set[str]], size: int) -> None:
    patients = sorted(features)
    chosen = pick_covering(patients, features, size)
    assert len(chosen) == min(size, len(patients))
    assert chosen <= set(patients)
    present = set().union(*features.values()) if features else set()
    if size >= len(present):  # each pick adds at least one new hard case
        covered = set().union(*(features[p] for p in chosen)) if chosen else set()
        assert covered == present
