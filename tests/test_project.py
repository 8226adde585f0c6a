"""The project file, the token's whereabouts, and the CLI's refusals."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flitstack.cli import app
from flitstack.project import ProjectError, load_project, read_token, write_project_file
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings

runner = CliRunner()


def test_init_writes_a_commented_owner_only_file_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "flitstack.toml"
    result = runner.invoke(
        app,
        ["init", "--company-domain", "acme", "--timezone", "Europe/Dublin", "--region", "IE",
         "--currency", "EUR", "--fallback-owner", "office@acme.example", "--plan", "power",
         "--seats", "3", "--path", str(path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert "# The Pipedrive API token is NOT stored here" in text
    assert "token =" not in text.replace("token_env =", "")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    project = load_project(path)
    s = project.settings
    assert (s.company_domain, s.timezone, s.region, s.currency) == (
        "acme", "Europe/Dublin", "IE", "EUR",
    )  # fmt: skip
    assert s.fallback_owner_email == "office@acme.example"
    assert (s.plan, s.seats) == ("power", 3)
    assert project.state == tmp_path / "flitstack-state.sqlite"
    assert s.api_root() == "https://acme.pipedrive.com/api"
    again = runner.invoke(app, ["init", "--company-domain", "x", "--timezone", "UTC",
                                "--fallback-owner", "", "--plan", "lite", "--seats", "1",
                                "--path", str(path)])  # fmt: skip
    assert again.exit_code == 2
    assert "already exists" in again.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[pipedrive]\napi_token = "abc"\n', "never goes in the project file"),
        ("[pipedrive]\ncolour = 1\n", "unknown key 'colour'"),
        ("[sound]\nvolume = 11\n", "unknown section [sound]"),
        ('[practice]\ntimezone = "Mars/Olympus"\n', "timezone"),
        ('[pipedrive]\nplan = "gold"\n', "unknown Pipedrive plan 'gold'"),
        ("[pipedrive\n", "not valid TOML"),
    ],
)
def test_bad_project_files_are_named_with_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "flitstack.toml"
    path.write_text(text)
    with pytest.raises(ProjectError) as raised:
        load_project(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)
    result = runner.invoke(app, ["audit-log", "--project", str(path)])
    assert result.exit_code == 2
    assert message in result.output.replace("\n", "")


def test_token_comes_from_the_environment_never_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(token_env="FLITSTACK_TEST_TOKEN")
    monkeypatch.setenv("FLITSTACK_TEST_TOKEN", "  tok-123  ")
    assert read_token(settings) == "tok-123"


def test_missing_and_wrong_tokens_get_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_project_file(tmp_path / "flitstack.toml", "acme", timezone="UTC")
    monkeypatch.delenv("PIPEDRIVE_API_TOKEN", raising=False)
    monkeypatch.setattr("flitstack.project.read_token", lambda s: None)
    monkeypatch.setattr("flitstack.api.read_token", lambda s: None)
    missing = runner.invoke(app, ["token", "check", "--project", str(path)])
    assert missing.exit_code == 2
    assert "no Pipedrive API token" in missing.output
    assert "PIPEDRIVE_API_TOKEN" in missing.output
    with running_sandbox(SandboxConfig()) as sb:
        monkeypatch.setattr("flitstack.api.read_token", lambda s: "not-the-token")
        wrong = runner.invoke(
            app, ["token", "check", "--project", str(path), "--api-root", sb.base_url]
        )
        assert wrong.exit_code == 2
        assert "refused the API token" in wrong.output
        assert "not-the-token" not in wrong.output
        monkeypatch.setattr("flitstack.api.read_token", lambda s: sb.api_token)
        right = runner.invoke(
            app, ["token", "check", "--project", str(path), "--api-root", sb.base_url]
        )
        assert right.exit_code == 0, right.output
        assert sb.api_token not in right.output


def test_the_full_run_is_refused_without_a_clean_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flitstack.mapping.confirm import confirm_workbook
    from flitstack.mapping.propose import propose_map
    from flitstack.mapping.workbook import save_workbook
    from flitstack.source.generator import generate_export

    export = tmp_path / "export"
    generate_export(export, 5, seed=2)
    path = write_project_file(tmp_path / "flitstack.toml", "acme", timezone="America/Chicago")
    project = load_project(path)
    confirm_workbook(
        save_workbook(propose_map(export, project.settings), project.workbook),
        "t",
        protection_as_proposed=True,
    )
    with running_sandbox(SandboxConfig()) as sb:
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", sb.api_token)
        refused = runner.invoke(
            app, ["migrate", str(export), "-p", str(path), "--api-root", sb.base_url]
        )
        assert refused.exit_code == 3
        assert "no verified sample yet" in refused.output.replace("\n", " ")
        assert sb.dump()["persons"] == []
        assert not os.environ.get("FLITSTACK_NEVER_SET")
