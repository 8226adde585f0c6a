"""`flitstack init` asks for and checks what sets the budget and the practice's facts, and takes
the export's own declarations as its defaults."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flitstack.cli import app
from flitstack.project import load_project

runner = CliRunner()


def _export(tmp_path: Path, manifest: dict[str, str]) -> Path:
    export = tmp_path / "export"
    export.mkdir()
    (export / "export.json").write_text(json.dumps({"source": "My Dental Clinic", **manifest}))
    (export / "patients.csv").write_text("PatientID,FirstName\n1,Ann\n")
    return export


def test_init_defaults_to_what_the_export_declares_and_shows_it(tmp_path: Path) -> None:
    export = _export(tmp_path, {"timezone": "America/Chicago", "currency": "CAD",
                                "tooth_numbering": "fdi"})  # fmt: skip
    path = tmp_path / "flitstack.toml"
    result = runner.invoke(
        app,
        ["init", "--company-domain", "acme", "--export", str(export), "--plan", "growth",
         "--seats", "2", "--fallback-owner", "office@acme.example", "--path", str(path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "America/Chicago" in result.output and "declares" in result.output
    s = load_project(path).settings
    assert (s.timezone, s.currency, s.source_tooth_notation.value) == (
        "America/Chicago", "CAD", "fdi",
    )  # fmt: skip
    assert (s.plan, s.seats) == ("growth", 2)


def test_init_asks_again_for_a_wrong_answer_and_refuses_a_wrong_option(tmp_path: Path) -> None:
    path = tmp_path / "flitstack.toml"
    asked = runner.invoke(
        app,
        ["init", "--company-domain", "acme", "--timezone", "Europe/Dublin", "--seats", "1",
         "--fallback-owner", "", "--path", str(path)],
        input="platinum\nPremium\n",
    )  # fmt: skip
    assert asked.exit_code == 0, asked.output
    assert "unknown Pipedrive plan 'platinum'" in asked.output
    assert load_project(path).settings.plan == "premium"
    wrong = runner.invoke(
        app,
        ["init", "--company-domain", "acme", "--timezone", "Mars/Olympus", "--plan", "lite",
         "--seats", "1", "--fallback-owner", "", "--path", str(tmp_path / "other.toml")],
    )  # fmt: skip
    assert wrong.exit_code == 2
    assert "Mars/Olympus" in wrong.output
    assert not (tmp_path / "other.toml").exists()


def test_init_writes_the_api_root_and_hints_at_a_wrong_one(tmp_path: Path) -> None:
    args = ["init", "--company-domain", "acme", "--timezone", "UTC", "--plan", "lite",
            "--seats", "1", "--fallback-owner", "a@b.example"]  # fmt: skip
    bad = runner.invoke(app, [*args, "--api-root", "http://127.0.0.1:8765",
                              "--path", str(tmp_path / "bad.toml")])  # fmt: skip
    assert bad.exit_code == 2 and "/api" in bad.output
    good = runner.invoke(app, [*args, "--api-root", "http://127.0.0.1:8765/api/",
                               "--path", str(tmp_path / "good.toml")])  # fmt: skip
    assert good.exit_code == 0, good.output
    assert load_project(tmp_path / "good.toml").settings.api_root() == "http://127.0.0.1:8765/api"


def test_init_records_the_protection_profile_proposed_by_the_region(tmp_path: Path) -> None:
    base = ["init", "--company-domain", "acme", "--timezone", "Europe/Dublin", "--plan", "lite",
            "--seats", "1", "--fallback-owner", ""]  # fmt: skip
    eu = runner.invoke(app, [*base, "--region", "IE", "--path", str(tmp_path / "eu.toml")])
    assert eu.exit_code == 0, eu.output
    assert "eu-gdpr" in eu.output
    assert load_project(tmp_path / "eu.toml").settings.protection_profile == "eu-gdpr"
    chosen = runner.invoke(
        app, [*base, "--protection", "other", "--path", str(tmp_path / "o.toml")]
    )
    assert load_project(tmp_path / "o.toml").settings.protection_profile == "other", chosen.output
    wrong = runner.invoke(app, [*base, "--protection", "lax", "--path", str(tmp_path / "x.toml")])
    assert wrong.exit_code == 2 and "lax" in wrong.output
