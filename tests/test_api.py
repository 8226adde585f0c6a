"""flitstack as a library: the whole journey as plain calls, and errors from one root."""

from __future__ import annotations

from pathlib import Path

import pytest

from flitstack.api import Migrator
from flitstack.errors import BadInput, FlitstackError, Refused
from flitstack.mapping.workbook import accept_loss
from flitstack.project import Project
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export


def _project(root: Path) -> Project:
    return Project(
        root=root, settings=Settings(timezone="America/Chicago"), workbook=root / "map.yaml",
        state=root / "state.sqlite", reports=root / "reports",
    )  # fmt: skip


def test_the_journey_as_library_calls(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 15, seed=12)
    steps: list[str] = []
    with running_sandbox(SandboxConfig(burst_limit=1000, search_burst_limit=1000)) as sb:
        m = Migrator(
            _project(tmp_path), token=sb.api_token, api_root=sb.base_url,
            progress=lambda step, done, total: steps.append(step),
        )  # fmt: skip
        assert m.audit(export).rows_read > 100
        wb = m.propose(export)
        assert (tmp_path / "map.yaml").exists() and wb.columns
        with pytest.raises(Refused, match="not been confirmed") as refused:
            m.setup(export)
        assert refused.value.exit_code == 3
        m.confirm(by="Library User", protection_as_proposed=True)
        assert m.setup(export)  # provider resolution
        summary, diff = m.sample(export, 4)
        assert summary.unaccounted() == {} and not diff.differences
        if not diff.clean:  # the generated damage: a person accepts each loss with a reason
            assert diff.truth is not None
            for loss in diff.truth.over_limit():
                accept_loss(tmp_path / "map.yaml", loss["file"], loss["column"], "known damage")
            m.confirm(by="Library User", protection_as_proposed=True)
        full = m.migrate(export)
        assert full.unaccounted() == {} and full.migrated["patients"] >= 13
        assert not m.verify(export).differences
        assert m.rollback(export)["differences"] == []
    assert any("persons" in step for step in steps)


def test_every_error_has_one_root_and_an_exit_code(tmp_path: Path) -> None:
    m = Migrator(_project(tmp_path), token=None)
    m._token = None
    with pytest.raises(FlitstackError) as no_export:
        m.audit(tmp_path / "nowhere")
    assert isinstance(no_export.value, BadInput) and no_export.value.exit_code == 2
    assert "nowhere" in str(no_export.value)
