"""Patient data protection: a decision per category, withheld means never sent (proven by
reading the account back), and the proof fails when a withheld category is there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flitstack.api import Migrator
from flitstack.engine.withheld import prove_withheld
from flitstack.mapping.confirm import ProtectionUndecided, confirm_workbook
from flitstack.mapping.protection import CATEGORIES, Protection
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import load_workbook
from flitstack.project import Project
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export

SANDBOX = SandboxConfig(burst_limit=1000, search_burst_limit=1000)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("protection") / "export"
    generate_export(out, 12, seed=21)
    return out


def _project(root: Path, profile: str) -> Project:
    return Project(
        root=root, settings=Settings(protection_profile=profile), workbook=root / "m.yaml",
        state=root / "s.sqlite", reports=root / "reports",
    )  # fmt: skip


def _run(export: Path, root: Path, profile: str) -> tuple[Any, dict[str, Any], Migrator]:
    with running_sandbox(SANDBOX) as sb:
        m = Migrator(_project(root, profile), token=sb.api_token, api_root=sb.base_url)
        m.propose(export)
        m.confirm(by="Data Protection Lead", protection_as_proposed=True)
        summary = m.migrate(export, skip_sample_gate=True)
        diff = m.verify(export)
        return (summary, diff, m), sb.dump(), m  # type: ignore[return-value]


def test_confirm_refuses_until_every_category_has_a_decision(export: Path, tmp_path: Path) -> None:
    m = Migrator(_project(tmp_path, "us-hipaa"), token="unused")
    m.propose(export)
    with pytest.raises(ProtectionUndecided) as refused:
        m.confirm(by="Someone")
    for category in CATEGORIES:
        assert category.name in str(refused.value)
    assert refused.value.exit_code == 3
    confirmed = confirm_workbook(tmp_path / "m.yaml", "Lead", protection_as_proposed=True)
    wb = load_workbook(tmp_path / "m.yaml")
    assert wb.protection is not None and wb.protection.accepted_as_proposed_by == "Lead"
    assert wb.protection.decisions["clinical_notes"].decision == "withhold"
    assert confirmed.digest  # the decisions are part of what is confirmed


def test_withheld_categories_never_reach_the_account_and_sent_ones_do(
    export: Path, tmp_path: Path
) -> None:
    (summary, diff, _m), dump, _ = _run(export, tmp_path / "hipaa", "us-hipaa")
    assert summary.unaccounted() == {}
    proofs = {p.category: p for p in diff.protection}
    for name in ("clinical_notes", "clinical_detail", "documents", "insurance_ids", "financial"):
        assert proofs[name].decision == "withhold"
        assert proofs[name].found == 0 and proofs[name].records_of_withheld_kinds == 0, name
        assert proofs[name].values_checked > 0 or name == "documents", name
    assert proofs["contact"].decision == "send"
    assert diff.clean or diff.truth is not None  # generated damage may still be a loss
    assert dump["files"] == [] and not any("MDC ref: clinical_notes:" in n["content"]
                                           for n in dump["notes"])  # fmt: skip
    assert summary.skipped["documents"] > 0 and summary.skipped["clinical_notes"] > 0
    assert dump["persons"] and any(p.get("emails") for p in dump["persons"])
    # the run report shows each decision and what the check looked for in the account
    from flitstack.engine.run_report import write_project_report
    from flitstack.engine.state import StateStore
    from flitstack.engine.verify import write_diff

    root = tmp_path / "hipaa"
    write_diff(diff, root / "reports", "Full migration")
    page = write_project_report(root, StateStore(root / "s.sqlite"), root / "m.yaml", str(export))
    text = page.read_text(encoding="utf-8")
    assert "Patient data sent to Pipedrive" in text and text.count(">withheld<") == 5
    assert f'<td class="num">{proofs["clinical_notes"].values_checked}</td>' in text

    # the same proof on an account where everything was sent finds each category there:
    # the check can fail
    (_s, sent, _m), _dump, _ = _run(export, tmp_path / "other", "other")
    assert all(p.decision == "send" for p in sent.protection)
    everything = Protection(
        profile="us-hipaa",
        decisions={
            c.name: {"proposed": "withhold", "decision": "withhold", "reason": "test"}
            for c in CATEGORIES
        },
    )
    wb = load_workbook(tmp_path / "other" / "m.yaml")
    proofs = prove_withheld(export, Bindings.from_workbook(wb), everything, sent.actual)
    found = {p.category: p for p in proofs}
    for name in ("clinical_notes", "clinical_detail", "documents", "insurance_ids", "financial",
                 "contact"):  # fmt: skip
        assert found[name].found + found[name].records_of_withheld_kinds > 0, name
        assert not found[name].clean


def test_access_by_location_sets_visibility_and_lists_the_groups(tmp_path: Path) -> None:
    from flitstack.reporting import read_csv

    export = tmp_path / "export"
    generate_export(export, 5, seed=3)
    project = Project(
        root=tmp_path, settings=Settings(visibility_by_location=True), workbook=tmp_path / "m.yaml",
        state=tmp_path / "s.sqlite", reports=tmp_path / "reports",
    )  # fmt: skip
    import csv

    with (export / "providers.csv").open(newline="", encoding="utf-8") as fh:
        providers = list(csv.DictReader(fh))
    users = [{"name": p["FirstName"], "email": p["Email"]} for p in providers if p["Email"]]
    with running_sandbox(SANDBOX, users=users) as sb:
        m = Migrator(project, token=sb.api_token, api_root=sb.base_url)
        m.propose(export)
        m.confirm(by="Lead", protection_as_proposed=True)
        m.setup(export)
        m.migrate(export, skip_sample_gate=True)
        dump = sb.dump()
    assert dump["persons"] and all(p["visible_to"] == 5 for p in dump["persons"])
    assert dump["deals"] and all(d["visible_to"] == 5 for d in dump["deals"])
    groups = read_csv(tmp_path / "reports" / "visibility-groups.csv")
    assert groups and {g["user e-mail"] for g in groups} <= {u["email"] for u in users}
