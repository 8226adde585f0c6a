"""What the export declares (time zone, currency, tooth numbering) is never silently overridden."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from flitstack.engine.migration import Migration
from flitstack.engine.state import StateStore
from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.practice import PracticeConflict
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import load_workbook, save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export

CHICAGO = Settings(timezone="America/Chicago")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("practice") / "export"
    generate_export(out, 8, seed=2)
    assert json.loads((out / "export.json").read_text())["timezone"] == "America/Chicago"
    return out


def _migration(export: Path, root: Path, project: Settings, **wb_edits: Any) -> Migration:
    wb = propose_map(export, CHICAGO)
    for key, value in wb_edits.items():
        setattr(wb, key, value)
    path = save_workbook(wb, root / "map.yaml")
    confirm_workbook(path, "test", protection_as_proposed=True)
    state = StateStore(root / "s.sqlite")
    return Migration(export, path, state, None, project)  # type: ignore[arg-type]


def test_a_project_in_another_time_zone_is_refused_at_setup_and_writes_nothing(
    export: Path, tmp_path: Path
) -> None:
    wb = save_workbook(propose_map(export, CHICAGO), tmp_path / "map.yaml")
    confirm_workbook(wb, "test", protection_as_proposed=True)
    new_york = Settings(timezone="America/New_York")
    with running_sandbox(SandboxConfig(burst_limit=1000)) as sb:
        before = sb.dump()

        async def go() -> None:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                await Migration(
                    export, wb, StateStore(tmp_path / "s.sqlite"), pd, new_york
                ).migrate()

        with pytest.raises(PracticeConflict) as refused:
            asyncio.run(go())
        assert sb.dump() == before
    message = str(refused.value)
    assert "America/Chicago" in message and "America/New_York" in message
    assert "[practice] timezone" in message and "manifest_overrides" in message


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (Settings(timezone="America/Chicago", currency="EUR"), ("'USD'", "'EUR'")),
        (Settings(timezone="America/Chicago", source_tooth_notation="fdi"), ("universal", "fdi")),
    ],
)
def test_currency_and_tooth_numbering_conflicts_are_refused(
    export: Path, tmp_path: Path, settings: Settings, named: tuple[str, str]
) -> None:
    with pytest.raises(PracticeConflict) as refused:
        _migration(export, tmp_path, settings).check_practice()
    assert all(n in str(refused.value) for n in named)


def test_a_recorded_override_settles_it(export: Path, tmp_path: Path) -> None:
    m = _migration(
        export, tmp_path, Settings(timezone="America/New_York"),
        manifest_overrides={"timezone": "America/New_York"},
        settings={**CHICAGO.model_dump(mode="json"), "timezone": "America/New_York"},
    )  # fmt: skip
    m.check_practice()  # no conflict: the person said the project's zone is meant
    assert load_workbook(tmp_path / "map.yaml").manifest_overrides


def test_without_a_manifest_the_time_zone_must_be_set(export: Path, tmp_path: Path) -> None:
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(export, bare)
    (bare / "export.json").unlink()
    with pytest.raises(PracticeConflict, match=r"no export\.json"):
        _migration(bare, tmp_path, Settings()).check_practice()
    _migration(bare, tmp_path, CHICAGO).check_practice()  # set explicitly: fine


def test_a_setting_changed_after_confirmation_is_refused(export: Path, tmp_path: Path) -> None:
    m = _migration(export, tmp_path, Settings(timezone="America/New_York"),
                   manifest_overrides={"timezone": "America/New_York"})  # fmt: skip
    with pytest.raises(PracticeConflict, match="confirmed with timezone"):
        m.check_practice()


def test_a_map_that_binds_no_column_to_a_files_id_is_refused(export: Path, tmp_path: Path) -> None:
    from flitstack.mapping.propose import set_role
    from flitstack.mapping.roles import BindingError

    wb = propose_map(export, CHICAGO)
    set_role(wb, "appointments", "AppointmentID", None)  # the person unmapped the ID column
    path = save_workbook(wb, tmp_path / "map.yaml")
    confirm_workbook(path, "test", protection_as_proposed=True)
    m = Migration(export, path, StateStore(tmp_path / "s.sqlite"), None, CHICAGO)  # type: ignore[arg-type]
    with pytest.raises(BindingError, match=r"appointments\.csv: no column is mapped to the role"):
        m.check_practice()


def test_audit_and_proposal_refuse_a_conflicting_project_naming_both_values(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from flitstack.cli import app
    from flitstack.source.audit import audit_export
    from flitstack.source.reader import open_export

    new_york = Settings(timezone="America/New_York")
    with open_export(export) as source, pytest.raises(PracticeConflict) as audit:
        audit_export(source, new_york)
    with pytest.raises(PracticeConflict) as proposal:
        propose_map(export, Settings(timezone="America/Chicago", currency="EUR"))
    assert "America/Chicago" in str(audit.value) and "America/New_York" in str(audit.value)
    assert "'USD'" in str(proposal.value) and "'EUR'" in str(proposal.value)
    (tmp_path / "flitstack.toml").write_text('[practice]\ntimezone = "America/New_York"\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["audit", str(export), "--out", str(tmp_path / "a")])
    assert result.exit_code == 3
    flat = " ".join(result.output.split())
    assert "America/Chicago" in flat and "America/New_York" in flat
    assert not (tmp_path / "a").exists()


def test_what_the_project_leaves_unset_comes_from_the_export(export: Path, tmp_path: Path) -> None:
    from flitstack.source.audit import audit_export
    from flitstack.source.reader import open_export

    with open_export(export) as source:
        assert audit_export(source, Settings()).settings_used["timezone"] == "America/Chicago"
    wb = propose_map(export, Settings())
    assert wb.settings["timezone"] == "America/Chicago"
    m = _migration(export, tmp_path, Settings())
    m.check_practice()
    assert m.settings.timezone == "America/Chicago"
