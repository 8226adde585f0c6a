"""The rebuild reference: every MDC rule translated part by part, or marked for a person."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flitstack.cli import app
from flitstack.journey.rebuild import MANUAL, build_reference, guide_rule, write_reference
from flitstack.source.generator import bundled_sample_path


def _rule(trigger: str, conditions: str = "", actions: str = "", active: str = "Y") -> dict:
    return {"RuleID": "9", "Name": "r", "Trigger": trigger, "Conditions": conditions,
            "Actions": actions, "IsActive": active, "Notes": ""}  # fmt: skip


def test_a_plan_follow_up_becomes_an_automation_with_its_parts() -> None:
    g = guide_rule(_rule(
        "Treatment plan status = Proposed for 7 days", "TotalFee > 500",
        "Create task for treatment coordinator; Send e-mail 'Your plan'",
    ))  # fmt: skip
    assert "stage Proposed" in g.pipedrive_trigger and "7 days" in g.pipedrive_trigger
    assert g.pipedrive_conditions == ["Deal value is greater than 500"]
    assert g.pipedrive_actions == [
        "Create activity (type Task) assigned to the treatment coordinator user",
        "Send email (recreate the template “Your plan” in Pipedrive)",
    ]
    assert g.verdict == "rebuild as a Pipedrive Automation"


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        (_rule("Patient birthday", "", "Send e-mail 'Hi'"), "no birthday trigger"),
        (_rule("Monthly on the 1st", "", "Print and mail statement"), "event-driven"),
        (_rule("Appointment scheduled", "", "Send SMS 48 hours before"), "no SMS action"),
        (_rule("Moon is full", "", "Create task for front desk"), "no Pipedrive equivalent"),
        (_rule("Appointment scheduled", "Weather = sunny", "Send e-mail 'x'"), "no matching"),
    ],
)
def test_what_pipedrive_cannot_do_is_never_guessed(rule: dict, why: str) -> None:
    g = guide_rule(rule)
    assert g.verdict.startswith(MANUAL)
    assert why in g.verdict


def test_inactive_rules_say_so() -> None:
    g = guide_rule(_rule("Appointment scheduled", "", "Send e-mail 'x'", active="N"))
    assert not g.active and "inactive in MDC" in g.verdict


def test_the_bundled_export_gives_a_complete_guide(tmp_path: Path) -> None:
    ref = build_reference(bundled_sample_path())
    with (bundled_sample_path() / "automations.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r.rule_id for r in ref.rules] == [r["RuleID"] for r in rows]
    for r in ref.rules:
        assert r.pipedrive_trigger and len(r.pipedrive_actions) == len(r.actions)
    counts = ref.counts()
    assert counts["rebuild"] + counts["manual"] == len(rows)
    with (bundled_sample_path() / "recalls.csv").open(newline="") as handle:
        types = {r["RecallType"].strip().title() for r in csv.DictReader(handle)}
    assert {s.recall_type.title() for s in ref.recalls} <= types | {"Unspecified"}
    assert sum(s.active + s.disabled for s in ref.recalls) > 0
    html, table = write_reference(ref, tmp_path)
    assert stat.S_IMODE(html.stat().st_mode) == 0o600
    with table.open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)


def test_hostile_rule_text_is_escaped(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "automations.csv").write_text(
        "RuleID,Name,Trigger,Conditions,Actions,IsActive,Notes\n"
        "1,<img src=x onerror=alert(1)>,Appointment scheduled,,\"Send e-mail '<b>x</b>'\",Y,\n"
    )
    html, _ = write_reference(build_reference(export), tmp_path / "out")
    text = html.read_text()
    assert "<img src=x" not in text and "&lt;img src=x" in text
    result = CliRunner().invoke(app, ["rebuild-reference", str(export), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 rules to rebuild as shown" in result.output
