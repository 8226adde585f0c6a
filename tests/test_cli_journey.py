"""The practice's journey on the command line: what a person sees and is asked at each turn.

The budget forecast before the full run (and the question when it spans several days), Ctrl-C,
a dropped connection, a wrong API root, who confirms the map, the sample gate after a rollback,
and a sample that cannot take as many patients as asked.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flitstack import cli_engine
from flitstack.cli import app
from flitstack.engine.state import StateStore
from flitstack.engine.verify import SampleNotClean, require_clean_sample
from flitstack.mapping.confirm import confirm_workbook, read_confirmation
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import save_workbook
from flitstack.pipedrive.governor import RateGovernor
from flitstack.project import load_project, write_project_file
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.source.generator import generate_export
from flitstack.source.mess import MessRates
from flitstack.source.reader import Row, open_export
from flitstack.source.schema import role

runner = CliRunner()
FAST = {"burst_limit": 1000, "search_burst_limit": 1000}


def _project(root: Path, export: Path, plan: str = "advanced", confirm: bool = True) -> Path:
    """A project (its map proposed and, unless told otherwise, confirmed) for ``export``."""
    path = write_project_file(
        root / "flitstack.toml", "acme", timezone="America/Chicago", plan=plan, seats=1
    )
    project = load_project(path)
    save_workbook(propose_map(export, project.settings), project.workbook)
    if confirm:
        confirm_workbook(project.workbook, "Practice Manager", protection_as_proposed=True)
    return path


def _lines(output: str, marker: str) -> list[str]:
    return [line for line in output.splitlines() if marker in line]


def _invoke(args: list[str], code: int | None = 0, **kw: Any) -> str:
    result = runner.invoke(app, args, **kw)
    if code is not None:
        assert result.exit_code == code, f"{args}: {result.output[-3000:]}"
    return result.output


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_full_run_over_several_budget_days_shows_the_forecast_and_asks_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export"
    generate_export(export, 20, seed=17)
    path = _project(tmp_path, export, plan="lite")
    # a Lite account on one seat whose day holds 1,000 tokens: the plan's budget, made small
    # (the sandbox itself never pauses here: what is tested is what the person is told)
    monkeypatch.setattr("flitstack.pipedrive.plans.BASE_DAILY_TOKENS", 1_000)
    with running_sandbox(SandboxConfig(**FAST, daily_budget=10**8)) as sb:
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", sb.api_token)
        args = ["migrate", str(export), "-p", str(path), "--api-root", sb.base_url,
                "--skip-sample-gate"]  # fmt: skip

        # a script (no terminal) without --yes: refused in one line, before the first record
        out = _invoke(args, code=3)
        assert _lines(out, "API tokens"), out  # the forecast reached the output
        refusal = _lines(out, "refused:")
        assert len(refusal) == 1 and "pass --yes" in refusal[0], out
        assert "days of the daily token budget" in refusal[0]
        assert sb.dump()["persons"] == []

        # a person at the terminal is asked, and "no" stops it there
        monkeypatch.setattr(cli_engine, "interactive", lambda: True)
        out = _invoke(args, code=3, input="n\n")
        assert "Start it?" in out and "not started" in out
        assert sb.dump()["persons"] == []

        # "yes" starts it, with the progress display back after the question
        out = _invoke(args, input="y\n")
        assert "Start it?" in out
        assert "every source row is accounted for" in out
        assert sb.dump()["persons"]

        # everything is there now: nothing left to forecast, no question
        out = _invoke(args)
        assert "Start it?" not in out and _lines(out, "budget:")


def test_ctrl_c_during_migrate_exits_130_and_the_same_command_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export"
    generate_export(export, 12, seed=4)
    path = _project(tmp_path, export, plan="lite")
    monkeypatch.setattr("flitstack.pipedrive.plans.BASE_DAILY_TOKENS", 500)  # --yes needed

    class CtrlC(cli_engine.Progress):  # type: ignore[misc]
        """Ctrl-C once some persons have been written (from inside the run's progress)."""

        def update(self, task: Any, **fields: Any) -> None:
            if "persons" in str(self.tasks[task].description) and fields.get("completed", 0) >= 3:
                raise KeyboardInterrupt
            super().update(task, **fields)

    with running_sandbox(SandboxConfig(**FAST)) as sb:
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", sb.api_token)
        args = ["migrate", str(export), "-p", str(path), "--api-root", sb.base_url,
                "--skip-sample-gate", "--yes"]  # fmt: skip
        monkeypatch.setattr(cli_engine, "Progress", CtrlC)
        out = _invoke(args, code=130)
        stopped = _lines(out, "stopped:")
        assert len(stopped) == 1, out
        assert "interrupted (Ctrl-C)" in stopped[0] and "Nothing is lost" in stopped[0]
        assert "Run the same command again to resume" in stopped[0]
        assert "Start it?" not in out  # --yes: no question
        written = len(sb.dump()["persons"])
        assert written >= 3

        monkeypatch.undo()
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", sb.api_token)
        assert "every source row is accounted for" in _invoke(args)
        persons = sb.dump()["persons"]
        created = StateStore(tmp_path / "flitstack-state.sqlite").counts()["persons"]["created"]
        assert len(persons) == created > written  # resumed, and nothing twice
        assert len({p["name"] for p in persons}) == len(persons)


def test_a_dropped_connection_names_the_api_and_says_to_run_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export"
    generate_export(export, 3, seed=2)
    path = _project(tmp_path, export)
    monkeypatch.setenv("PIPEDRIVE_API_TOKEN", "a-token")
    monkeypatch.setattr(RateGovernor, "backoff", staticmethod(lambda *a, **k: 0.0))
    root = f"http://127.0.0.1:{_closed_port()}/api"
    out = _invoke(["setup", str(export), "-p", str(path), "--api-root", root], code=5)
    failed = _lines(out, "failed:")
    assert len(failed) == 1, out
    assert root in failed[0] and "run the same command to resume" in failed[0]
    assert "All connection attempts failed" in failed[0]
    assert "Traceback" not in out


def test_a_wrong_api_root_says_it_should_end_in_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export"
    generate_export(export, 3, seed=2)
    path = _project(tmp_path, export)
    hint = "the API root should end in /api, e.g. https://acme.pipedrive.com/api"
    with running_sandbox(SandboxConfig(**FAST)) as sb:
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", sb.api_token)
        web = sb.base_url.removesuffix("/api")
        out = _invoke(["setup", str(export), "-p", str(path), "--api-root", web], code=2)
        error = _lines(out, "error:")
        assert len(error) == 1 and hint in error[0] and web in error[0], out
        out = _invoke(["token", "check", "-p", str(path), "--api-root", web], code=2)
        assert hint in out
        assert sb.dump()["persons"] == []


def test_map_confirm_asks_for_the_name_and_never_takes_the_login_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass

    export = tmp_path / "export"
    generate_export(export, 3, seed=2)
    path = _project(tmp_path, export, confirm=False)
    workbook = load_project(path).workbook
    args = ["map", "confirm", "--workbook", str(workbook), "--protection-as-proposed"]

    # a script without --by: refused in one line, nothing confirmed
    out = _invoke(args, code=2)
    refused = _lines(out, "error:")
    assert len(refused) == 1 and '--by "Your Name"' in refused[0], out
    assert read_confirmation(workbook) is None

    # at a terminal: asked (an empty answer is asked again), and the answer is recorded
    monkeypatch.setattr(cli_engine, "interactive", lambda: True)
    out = _invoke(args, input="  \nPractice Manager\n")
    assert "Your name" in out and "Confirmed by Practice Manager" in out
    confirmation = read_confirmation(workbook)
    assert confirmation is not None and confirmation.confirmed_by == "Practice Manager"
    assert confirmation.confirmed_by != getpass.getuser()


def test_a_rollback_voids_the_clean_sample_until_a_new_one(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite")
    try:
        with pytest.raises(SampleNotClean, match="no verified sample"):
            require_clean_sample(state)
        sample = state.start_run("sample")
        state.record_check(sample, "sample", 40, 0, 6)
        assert require_clean_sample(state)["run_id"] == sample
        state.start_run("rollback")
        with pytest.raises(SampleNotClean, match="rolled back") as voided:
            require_clean_sample(state)
        assert "--sample" in str(voided.value) and voided.value.exit_code == 3
        time.sleep(0.01)  # checks are ordered by their time (to the millisecond)
        again = state.start_run("sample")
        state.record_check(again, "sample", 40, 0, 6)
        assert require_clean_sample(state)["run_id"] == again
    finally:
        state.close()


def test_after_rollback_the_full_run_waits_for_a_new_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export"
    generate_export(export, 8, seed=12)
    path = _project(tmp_path, export)
    workbook = load_project(path).workbook
    with running_sandbox(SandboxConfig(**FAST)) as sb:
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", sb.api_token)
        common = ["-p", str(path), "--api-root", sb.base_url]
        sample = ["migrate", str(export), "--sample", "3", *common]
        _invoke(sample, code=None)
        # the generated export's deliberate damage: accepted with a reason, then confirmed
        state = StateStore(tmp_path / "flitstack-state.sqlite")
        check = state.last_check("sample")
        assert check is not None
        for loss in state.losses(int(check["run_id"])):
            where = [loss["file"]] + ([loss["column"]] if loss["column"] else [])
            _invoke(["map", "accept-loss", *where, "--reason", "known damage",
                     "--workbook", str(workbook)])  # fmt: skip
        state.close()
        _invoke(["map", "confirm", "--by", "Practice Manager", "--workbook", str(workbook)])
        _invoke(["rollback", str(export), *common])
        out = _invoke(["migrate", str(export), *common], code=3)
        assert "rolled back" in out and "--sample" in out
        assert sb.dump()["persons"] == []
        _invoke(sample)
        assert "every source row is accounted for" in _invoke(["migrate", str(export), *common])


def test_the_sample_takes_exactly_n_patients_or_says_why_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export"
    generate_export(export, 20, seed=5, mess=MessRates(deleted_patient=0.3))
    with open_export(export) as source:
        status = [
            r.values.get(role("patients", "status"))
            for r in source.read("patients")
            if isinstance(r, Row)
        ]
    deleted = status.count("Deleted")
    eligible = len(status) - deleted
    assert deleted >= 2 and eligible >= 6
    path = _project(tmp_path, export)
    with running_sandbox(SandboxConfig(**FAST)) as sb:
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", sb.api_token)
        common = [str(export), "-p", str(path), "--api-root", sb.base_url]
        out = _invoke(["migrate", *common, "--sample", "5"], code=None)
        assert _lines(out, "sample: 5 patients"), out
        assert len(sb.dump()["persons"]) == 5  # exactly the number asked for

        asked = len(status) + 3
        out = _invoke(["migrate", *common, "--sample", str(asked)], code=None)
        said = _lines(out, "sample:")
        assert said == [
            f"sample: {eligible} patients, not {asked}: only {eligible} patients can be "
            f"migrated ({deleted} are Deleted)"
        ], out
        assert len(sb.dump()["persons"]) == eligible


def test_pick_sample_skips_what_the_map_skips_and_counts_exactly(tmp_path: Path) -> None:
    from flitstack.engine.migration import Migration
    from flitstack.mapping.workbook import load_workbook

    export = tmp_path / "export"
    generate_export(export, 30, seed=5, mess=MessRates(deleted_patient=0.3))
    path = _project(tmp_path, export, confirm=False)
    workbook = load_project(path).workbook
    wb = load_workbook(workbook)
    status = next(c for c in wb.columns if c.file == "patients" and c.options.get("skip_values"))
    status.options["skip_values"] = [*status.options["skip_values"], "Archived"]  # the map says
    save_workbook(wb, workbook)
    with open_export(export) as source:
        rows = {"patients": [r for r in source.read("patients") if isinstance(r, Row)]}
    marks = [str(r.values.get(status.key) or "") for r in rows["patients"]]
    left_out = {m: marks.count(m) for m in ("Archived", "Deleted") if m in marks}
    eligible = {
        r.source_id for r, m in zip(rows["patients"], marks, strict=True) if m not in left_out
    }
    assert left_out.get("Deleted") and left_out.get("Archived") and len(eligible) >= 4
    state = StateStore(tmp_path / "state.sqlite")
    try:
        m = Migration(export, workbook, state, None)  # type: ignore[arg-type]
        for size in (1, 3, len(eligible)):
            chosen = m.pick_sample(rows, size)
            assert len(chosen) == size and chosen <= eligible
            assert m.sample_picked["picked"] == size
        assert m.pick_sample(rows, len(eligible) + 5) == eligible
        assert m.sample_picked == {
            "asked": len(eligible) + 5, "picked": len(eligible), "eligible": len(eligible),
            "skipped": dict(sorted(left_out.items())),
        }  # fmt: skip
    finally:
        state.close()
