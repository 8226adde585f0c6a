"""Setup sends what does not depend on each other together (the account reads with the rollback
snapshot's lists, the field creates), keeps what Pipedrive orders by creation in order (the
pipelines, each one's stages), and when it runs again (every migrate, delta and verify starts
with it) asks only what may have changed: the field lists and the users."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from flitstack.engine.migration import FallbackOwnerUnknown, Migration
from flitstack.engine.records import Setup
from flitstack.engine.state import StateStore
from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import load_workbook, save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.governor import RateGovernor
from flitstack.project import Project, load_project, write_project_file
from flitstack.sandbox.server import SandboxConfig, SandboxHandle, running_sandbox
from flitstack.source.generator import generate_export

T = TypeVar("T")
LATENCY = 0.05


class Counting(httpx.AsyncBaseTransport):
    """Loopback HTTP that notes every request and the most ever in flight at once."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.calls: list[tuple[str, str]] = []
        self.in_flight = self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path.removeprefix("/api")))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Project]:
    root = tmp_path_factory.mktemp("setup")
    export = root / "export"
    generate_export(export, 12, seed=17)
    write_project_file(root / "flitstack.toml", "acme", timezone="America/Chicago")
    project = load_project(root / "flitstack.toml")
    confirm_workbook(
        save_workbook(propose_map(export, project.settings), project.workbook),
        "test",
        protection_as_proposed=True,
    )
    return export, project


def _config() -> SandboxConfig:
    return SandboxConfig(
        burst_limit=1000, search_burst_limit=1000, latency_ms=LATENCY * 1000, seed=3
    )


def _run(
    sb: SandboxHandle,
    practice: tuple[Path, Project],
    state: Path,
    action: Callable[[Migration], Any],
    settings: Any = None,
) -> tuple[Any, Counting]:
    """``action`` on a fresh Migration (as every command makes one), with its own client."""
    export, project = practice
    transport = Counting()

    async def go() -> Any:
        governor = RateGovernor(initial_limit=1000)
        async with PipedriveClient(sb.base_url, sb.api_token, governor, transport=transport) as pd:
            store = StateStore(state)
            try:
                m = Migration(export, project.workbook, store, pd, settings or project.settings)
                return await action(m)
            finally:
                store.close()

    return asyncio.run(go()), transport


def _setup(m: Migration) -> Any:
    return m.setup()


def _resolved(s: Setup) -> tuple[Any, ...]:
    return (s.fields, s.pipelines, s.stages, s.fallback_user, s.activity_types, s.provider_users)


def test_setup_goes_together_and_keeps_pipelines_and_stages_in_order(
    practice: tuple[Path, Project], tmp_path: Path
) -> None:
    _, project = practice
    pipelines = load_workbook(project.workbook).pipelines
    assert len(pipelines) >= 2 and all(p.stages for p in pipelines)
    with running_sandbox(_config()) as sb:
        s, net = _run(sb, practice, tmp_path / "s.sqlite", _setup)
        dump = sb.dump()
    posts = [path for method, path in net.calls if method == "POST"]
    reads = [path for method, path in net.calls if method == "GET"]
    # the snapshot's lists and setup's reads share one round: the field lists, pipelines and
    # stages are asked once, the stages of every pipeline in one list
    assert reads.count("/v2/personFields") == 1 and reads.count("/v2/stages") == 1
    # all the reads were in flight at once, and creates beside them (how much time that saves
    # is a figure of bench/bench_end_to_end.py, not a timed assertion here)
    assert net.peak >= len(reads) and net.peak >= 10
    assert len([p for p in posts if p.endswith("Fields")]) == len(s.fields)
    # in Pipedrive's order (by creation), as the workbook lists them
    made = sorted(dump["pipelines"], key=lambda p: p["order_nr"])
    assert [p["name"] for p in made] == [p.name for p in pipelines]
    for pipe in pipelines:
        pid = s.pipelines[pipe.name]
        stages = sorted(
            (st for st in dump["stages"] if st["pipeline_id"] == pid), key=lambda st: st["order_nr"]
        )
        assert [st["name"] for st in stages] == list(pipe.stages)
        assert all(s.stages[(pipe.name, st["name"])] == st["id"] for st in stages)


def test_setup_again_asks_only_the_field_lists_and_users_and_creates_nothing(
    practice: tuple[Path, Project], tmp_path: Path
) -> None:
    state = tmp_path / "s.sqlite"
    with running_sandbox(_config()) as sb:
        first, _ = _run(sb, practice, state, _setup)
        before = sb.dump()
        again, net = _run(sb, practice, state, _setup)
        assert sb.dump() == before
    assert sorted(net.calls) == sorted(
        [("GET", f"/v2/{t}Fields") for t in ("person", "organization", "deal")]
        + [("GET", "/v1/users")]
    )
    assert _resolved(again) == _resolved(first)


def test_a_field_deleted_in_pipedrive_meanwhile_is_made_again(
    practice: tuple[Path, Project], tmp_path: Path
) -> None:
    state = tmp_path / "s.sqlite"
    with running_sandbox(_config()) as sb:
        first, _ = _run(sb, practice, state, _setup)
        (target, name), spec = next(iter(first.fields.items()))
        gone = spec["key"]

        async def delete(m: Migration) -> None:
            await m.pd.request("DELETE", f"/v2/{target}Fields/{gone}")

        _run(sb, practice, state, delete)
        again, net = _run(sb, practice, state, _setup)
        codes = {f["field_code"] for f in sb.dump()[f"{target}Fields"]}
    assert ("POST", f"/v2/{target}Fields") in net.calls
    key = again.fields[(target, name)]["key"]
    assert key != gone and key in codes
    store = StateStore(state)
    assert store.setup_items("field")[f"{target}:{name}"][0] == key
    assert store.setup_items("field")[f"{target}:{name}"][2]  # made by the migration
    store.close()


def test_after_a_rollback_setup_makes_the_pipelines_again(
    practice: tuple[Path, Project], tmp_path: Path
) -> None:
    state = tmp_path / "s.sqlite"
    with running_sandbox(_config()) as sb:
        _run(sb, practice, state, _setup)
        result, _ = _run(sb, practice, state, lambda m: m.rollback())
        assert result["differences"] == []
        assert sb.dump()["pipelines"] == []
        again, _ = _run(sb, practice, state, _setup)
        ids = {p["id"] for p in sb.dump()["pipelines"]}
    assert set(again.pipelines.values()) == ids


def test_a_refused_fallback_owner_sends_no_write_and_keeps_no_snapshot(
    practice: tuple[Path, Project], tmp_path: Path
) -> None:
    _, project = practice
    settings = project.settings.model_copy(update={"fallback_owner_email": "no@one.example"})
    state = tmp_path / "s.sqlite"
    with running_sandbox(_config()) as sb:
        before = sb.dump()
        with pytest.raises(FallbackOwnerUnknown):
            _run(sb, practice, state, _setup, settings)
        assert sb.dump() == before
    store = StateStore(state)
    assert store.snapshot() is None  # taken again, fresh, by the setup that goes ahead
    store.close()
