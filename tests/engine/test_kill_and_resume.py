"""``flitstack migrate`` killed with SIGKILL at random instants, then run again to the end."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from flitstack.engine.migration import Migration
from flitstack.engine.state import StateStore
from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.project import load_project, write_project_file
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.source.generator import generate_export

KINDS = ("persons", "organizations", "deals", "activities", "notes", "files")


def _config(latency_ms: float) -> SandboxConfig:
    return SandboxConfig(
        burst_limit=1000,
        search_burst_limit=1000,
        latency_ms=latency_ms,
        latency_jitter_ms=latency_ms / 2,
        seed=5,
        seed_persons=[{"name": "Already Here"}],
        seed_organizations=[{"name": "Existing Org"}],
    )


def _counts(dump: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {k: len(dump[k]) for k in KINDS}


def _source_markers(dump: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every MDC source reference found in the account: one per created record."""
    markers = [
        str(v)
        for kind in ("persons", "organizations", "deals")
        for r in dump[kind]
        for v in (r.get("custom_fields") or {}).values()
        if isinstance(v, str) and ":" in v and v.split(":", 1)[0].isidentifier()
    ]
    markers += [a["note"].rsplit("MDC ref: ", 1)[-1] for a in dump["activities"] if a["note"]]
    markers += [n["content"].rsplit("MDC ref: ", 1)[-1] for n in dump["notes"]]
    return markers


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("kill")
    export = root / "export"
    generate_export(export, 30, seed=13)
    project = root / "flitstack.toml"
    write_project_file(project, "acme", timezone="America/Chicago")
    proj = load_project(project)
    confirm_workbook(
        save_workbook(propose_map(export, proj.settings), proj.workbook),
        "test",
        protection_as_proposed=True,
    )
    return export, project


def _reference_counts(export: Path, project: Path, tmp_path: Path) -> dict[str, int]:
    """What one uninterrupted run leaves in the same starting account."""
    proj = load_project(project)
    with running_sandbox(_config(0)) as sb:

        async def go() -> None:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                state = StateStore(tmp_path / "reference.sqlite")
                await Migration(export, proj.workbook, state, pd, proj.settings).migrate()

        asyncio.run(go())
        return _counts(sb.dump())


def test_kill_9_at_random_instants_then_resume_gives_exact_counts(
    practice: tuple[Path, Path], tmp_path: Path
) -> None:
    export, project = practice
    expected = _reference_counts(export, project, tmp_path)
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    with running_sandbox(_config(latency_ms=8)) as sb:
        env = {**os.environ, "PIPEDRIVE_API_TOKEN": sb.api_token, "COLUMNS": "120"}
        command = [
            sys.executable, "-m", "flitstack", "migrate", str(export), "--project", str(project),
            "--skip-sample-gate", "--api-root", sb.base_url,
        ]  # fmt: skip
        kills = 0
        total = sum(expected.values())
        for _ in range(3):
            # kill when the account holds a random number of the run's records: a random
            # instant inside the load whatever the machine's speed
            done = sum(_counts(sb.dump()).values())
            if done >= total - 1:
                break
            target = rng.randint(done + 1, max(done + 1, total - 2))
            proc = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                if sum(_counts(sb.dump()).values()) >= target:
                    break
                time.sleep(rng.uniform(0.005, 0.05))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=60)
        assert kills >= 1, f"the run finished before any kill (seed {seed})"
        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
        assert "every source row is accounted for" in final.stdout
        dump = sb.dump()
        markers = _source_markers(dump)
        assert len(markers) == len(set(markers)), f"duplicates after kill -9 (seed {seed})"
        assert _counts(dump) == expected, f"seed {seed}"
        state = StateStore(load_project(project).state)
        created = state.counts()
        assert created["persons"]["created"] == expected["persons"] - 1
        assert created["notes"]["created"] == expected["notes"]
