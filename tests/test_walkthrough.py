"""The README's walk-through, command by command, against a sandbox standing in for Pipedrive."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flitstack.cli import app
from flitstack.engine.state import StateStore
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.source.generator import generate_export
from flitstack.source.later import make_later_export

runner = CliRunner()


def test_a_newcomer_follows_the_readme_from_init_to_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    generate_export(tmp_path / "export", 10, seed=12)
    make_later_export(tmp_path / "export", tmp_path / "later")
    config = SandboxConfig(
        burst_limit=1000, search_burst_limit=1000, seed_persons=[{"name": "Here Before"}]
    )
    with running_sandbox(config) as sb:
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", sb.api_token)

        def step(*args: str, code: int = 0) -> str:
            result = runner.invoke(app, list(args))
            assert result.exit_code == code, f"{args}: {result.output[-3000:]}"
            return result.output

        step("init", "--company-domain", "acme", "--export", "export", "--plan", "advanced",
             "--seats", "1", "--fallback-owner", "admin@sandbox.example",
             "--api-root", sb.base_url)  # fmt: skip
        assert "Sandbox Admin" in step("token", "check")
        step("audit", "export")
        assert (tmp_path / "export-audit" / "schema-inventory.html").exists()
        step("map", "propose", "export")
        # nothing moves before the map is confirmed, and the full run needs a clean sample
        assert "confirm" in step("migrate", "export", "--sample", "3", code=3)
        step("map", "confirm", "--protection-as-proposed", "--by", "Practice Manager")
        assert "no verified sample yet" in step("migrate", "export", code=3).replace("\n", " ")
        assert "providers resolved" in step("setup", "export")
        assert "0 differ, 0 missing" in step("migrate", "export", "--sample", "3")
        assert "every source row is accounted for" in step("migrate", "export")
        # read back against what was sent: clean; against the source files: the generated
        # export's deliberate damage (invalid e-mails, missing documents…) is named, and the
        # practice manager accepts each loss with a reason before verify calls the run clean
        checked = step("verify", "export", code=1)
        assert "0 differ, 0 missing" in checked
        assert "not accepted" in checked.replace("\n", " ")
        state = StateStore(tmp_path / "flitstack-state.sqlite")
        losses = state.losses(state.last_check("full")["run_id"])  # type: ignore[index]
        assert losses
        for loss in losses:
            where = [loss["file"]] + ([loss["column"]] if loss["column"] else [])
            step("map", "accept-loss", *where, "--reason", "damaged in MDC, fixed by hand later")
        step("map", "confirm", "--protection-as-proposed", "--by", "Practice Manager")
        assert "0 differ, 0 missing" in step("verify", "export")
        assert "created 4, updated" in step("delta", "later")
        assert "writes →" in step("audit-log", "--out", "audit.jsonl")
        writes = (tmp_path / "audit.jsonl").read_text().splitlines()
        assert writes and all(json.loads(w)["outcome"] for w in writes)
        assert "matches its state before the migration" in step("rollback", "later")
        assert [p["name"] for p in sb.dump()["persons"]] == ["Here Before"]

    report = tmp_path / "report.html"
    text = report.read_text()
    assert "Practice Manager" in text
    assert "rolled back and proved" in text
    assert "Sample migration" in text and "Full migration" in text
    assert "Delta pickup" in text
    assert 'href="reports/setup.html"' in text
    for private in (report, tmp_path / "flitstack-state.sqlite", tmp_path / "audit.jsonl"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    assert "run report:" in step_output_of_report(tmp_path)


def step_output_of_report(root: Path) -> str:
    result = runner.invoke(app, ["report", "--project", str(root / "flitstack.toml")])
    assert result.exit_code == 0, result.output
    return result.output
