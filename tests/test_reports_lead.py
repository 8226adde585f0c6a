"""Reports that lead: every page opens with what needs the reader's attention and what to do
next, in plain words, its counts matching the detail below; the version and the export are in
the header and footer; records are named by their patient (ID and initials only)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

from flitstack import __version__
from flitstack.api import Migrator, audit_and_write
from flitstack.engine.reports import (
    RecordNames,
    current_outcomes,
    project_attention,
    write_delta_report,
    write_setup_report,
)
from flitstack.engine.run_report import write_project_report
from flitstack.engine.state import StateStore
from flitstack.engine.verify import unaccepted_losses, write_diff
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import load_workbook
from flitstack.project import Project
from flitstack.reporting import (
    ISSUE_LABELS,
    issue_label,
    kind_label,
    plain_reason,
    read_csv,
    reason_kind,
    render,
)
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export
from flitstack.source.later import make_later_export
from flitstack.source.reader import _PROBLEM_MESSAGES, open_export

FALLBACK = "admin@sandbox.example"  # the sandbox's one user: no provider matches a user
#: codes that are issue codes, never words: none may reach a page
CODES = sorted(c for c in ISSUE_LABELS if "_" in c)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small migration with flagged values, every provider on the fallback owner and a loss
    nobody accepted: setup, sample and its diff, full run and its diff, a delta, the report."""
    root = tmp_path_factory.mktemp("lead")
    export = root / "export"
    generate_export(export, 10, seed=12)
    settings = Settings(timezone="America/Chicago", fallback_owner_email=FALLBACK)
    project = Project(
        root=root, settings=settings, workbook=root / "flitstack-map.yaml",
        state=root / "flitstack-state.sqlite", reports=root / "reports",
    )  # fmt: skip
    with open_export(export) as source:  # `flitstack audit`'s layout: EXPORT-audit/ beside it
        audit_and_write(source, root / "export-audit", settings)
    with running_sandbox(SandboxConfig(burst_limit=1000, search_burst_limit=1000)) as sb:
        m = Migrator(project, token=sb.api_token, api_root=sb.base_url)
        m.propose(export)
        m.confirm(by="Practice Manager", protection_as_proposed=True)
        resolution = m.setup(export)
        with_state(project, lambda st: write_setup_report(project.reports, st, resolution))
        _, sample = m.sample(export, 4)
        write_diff(sample, project.reports, "Sample")
        m.migrate(export, skip_sample_gate=True)  # the sample's loss is not accepted
        full = m.verify(export)
        write_diff(full, project.reports, "Full migration")
        later = root / "later-export"
        make_later_export(export, later, bindings=Bindings.from_workbook(load_workbook(
            project.workbook)))  # fmt: skip
        delta = m.delta(later)
        with_state(project, lambda st: write_delta_report(project.reports, delta, later))
        report = with_state(project, lambda st: write_project_report(
            root, st, project.workbook, str(export), sb.base_url))  # fmt: skip
    return {"root": root, "export": export, "project": project, "report": report,
            "resolution": resolution, "delta": delta}  # fmt: skip


def with_state(project: Project, action: Any) -> Any:
    state = StateStore(project.state)
    try:
        return action(state)
    finally:
        state.close()


def pages(run: dict[str, Any]) -> list[Path]:
    root: Path = run["root"]
    found = [
        root / "report.html",
        *(root / "reports" / f"{p}.html"
          for p in ("setup", "sample-diff", "full-migration-diff", "delta")),
        root / "export-audit" / "schema-inventory.html",
    ]  # fmt: skip
    assert all(p.exists() for p in found)
    return found


def attention(page: str) -> str:
    found = re.search(r'<section class="attention".*?</section>', page, re.S)
    assert found, "no attention section"
    return found.group(0)


def concern(page: str, key: str) -> tuple[int, list[tuple[str, str]], str]:
    """(count, rows as (what, how many or why), what to do next) of one attention item."""
    block = re.search(
        rf'<div class="concern \w+" data-concern="{re.escape(key)}">(.*?)</div>',
        attention(page), re.S,
    )  # fmt: skip
    assert block, f"no {key!r} in the attention section"
    body = block.group(1)
    count = int(re.search(r'data-count="(\d+)"', body).group(1))  # type: ignore[union-attr]
    rows = [
        (text(what), text(n))
        for what, n in re.findall(r"<tr><td>(.*?)</td>(?:<td[^>]*>(.*?)</td>)?</tr>", body, re.S)
    ]
    todo = re.search(r'<p class="next"><b>What to do next:</b>(.*?)</p>', body, re.S)
    assert todo, f"{key}: no 'what to do next'"
    return count, rows, text(todo.group(1))


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment))).strip()


def card(page: str, label: str) -> int:
    found = re.search(rf">{re.escape(label)}<b[^>]*>(\d+)</b>", page)
    assert found, f"no card {label!r}"
    return int(found.group(1))


def test_the_run_report_opens_with_what_needs_attention(run: dict[str, Any]) -> None:
    page = run["report"].read_text(encoding="utf-8")
    assert page.index('id="attention"') < page.index("<h2>Verification</h2>")
    state = StateStore(run["project"].state)
    try:
        outcomes = current_outcomes(state)
        check = state.last_check("full")
        assert check is not None
        lost = unaccepted_losses(state, int(check["run_id"]), load_workbook(
            run["project"].workbook))  # fmt: skip
    finally:
        state.close()

    # flagged values, by kind in plain words, counted as the detail table counts them
    flagged = [o for o in outcomes if o["outcome"] == "flagged"]
    assert any(o["reason"].startswith("phone_unverified") for o in flagged)  # the damage
    count, rows, todo = concern(page, "flagged")
    assert count == len(flagged) == card(page, "Values flagged")
    assert sum(int(n) for _, n in rows) == count
    labels = {what for what, _ in rows}
    assert {kind_label(reason_kind(o["reason"])) for o in flagged} == labels
    assert issue_label("phone_unverified") in labels
    detail = re.findall(
        r'<tr data-outcome="flagged"><td>flagged</td><td>(.*?)</td>.*?<td class="num">(\d+)</td>',
        page, re.S,
    )  # fmt: skip
    assert {text(k): int(n) for k, n in detail} == {w: int(n) for w, n in rows}
    assert "rejects-and-flags.csv" in todo and "flitstack delta" in todo

    # providers on the fallback owner: the setup's resolution, each listed by name
    fallback = [r for r in run["resolution"] if "fallback" in r["resolution"]]
    assert fallback  # no provider has a user in the sandbox
    count, rows, todo = concern(page, "fallback")
    assert count == len(fallback)
    assert [what for what, _ in rows] == [f"provider {r['provider']}: {r['name']}"
                                         for r in fallback]  # fmt: skip
    assert "flitstack setup" in todo and str(run["export"]) in todo

    # the loss nobody accepted, as the verification table counts it
    assert lost
    count, rows, todo = concern(page, "losses-full")
    assert count == len(lost) and [what for what, _ in rows] == lost
    assert "flitstack map accept-loss" in todo and "flitstack map confirm" in todo
    verification = re.search(r"<td>Full migration</td>(.*?)</tr>", page, re.S)
    assert verification and ">losses<" in verification.group(1)

    # the delta's records to review: as many as the delta page lists and counts
    delta = run["delta"]
    review = len(delta.disappeared) + len(delta.needs_attention)
    assert review
    count, rows, _ = concern(page, "delta")
    assert count == review
    assert f"{review} records to review" in text(page)
    delta_page = (run["root"] / "reports" / "delta.html").read_text(encoding="utf-8")
    assert card(delta_page, "Need attention") == review == concern(delta_page, "delta")[0]
    listed = re.findall(r'<table class="review" data-list="\w+">(.*?)</table>', delta_page, re.S)
    assert sum(t.count("<tr><td") for t in listed) == review
    assert rows[0][0].startswith("patient ") or " of patient " in rows[0][0]


def test_every_page_has_the_version_and_the_export_and_opens_with_attention(
    run: dict[str, Any],
) -> None:
    export = html.escape(str(run["export"]))
    for path in pages(run):
        page = path.read_text(encoding="utf-8")
        header = re.search(r"<header[^>]*>(.*?)</header>", page, re.S)
        footer = re.search(r"<footer[^>]*>(.*?)</footer>", page, re.S)
        assert header and footer, path.name
        for part in (header.group(1), footer.group(1)):
            assert f"flitstack {__version__}" in part, path.name
        if path.name != "delta.html":  # the delta names the later export it read
            assert export in header.group(1) and export in footer.group(1), path.name
        assert "Generated by flitstack ." not in page
        assert page.index("<h2") == page.index('<h2 id="attention-h"'), path.name  # first
        for code in CODES:
            assert not re.search(rf"\b{code}\b", page), (path.name, code)
    delta_page = (run["root"] / "reports" / "delta.html").read_text(encoding="utf-8")
    assert html.escape(str(run["root"] / "later-export")) in delta_page


def test_step_pages_share_the_attention_and_name_records_by_patient(
    run: dict[str, Any],
) -> None:
    reports: Path = run["root"] / "reports"
    setup = (reports / "setup.html").read_text(encoding="utf-8")
    assert concern(setup, "fallback")[0] == card(setup, "On the fallback owner")
    for stem in ("sample-diff", "full-migration-diff"):
        page = (reports / f"{stem}.html").read_text(encoding="utf-8")
        assert concern(page, "losses-full")[0] >= 1
        named = re.findall(r'<span title="appointments:(\d+)">(.*?)</span>', page)
        assert named, stem
        for sid, label in named:
            assert re.fullmatch(
                rf"appointment {sid} of patient \d+ \([A-Z]\. [A-Z]\.\)", html.unescape(label)
            ), label
    # only initials: no patient's full name is in a record's label
    state = StateStore(run["project"].state)
    try:
        names = RecordNames(state, reports)
        persons = [(k, b["name"]) for k, kind, _, b in state.payloads() if kind == "persons"]
        appointment = next(k for k, kind, _, _ in state.payloads() if kind == "activities")
        for key, name in persons:
            label = names(key)
            assert name not in label and label.startswith(f"patient {key.split(':')[1]} (")
        assert " of patient " in names(appointment)
    finally:
        state.close()


def test_the_audit_inventory_leads_and_is_linked_from_the_run_report(run: dict[str, Any]) -> None:
    inventory = run["root"] / "export-audit" / "schema-inventory.html"
    page = inventory.read_text(encoding="utf-8")
    count, rows, todo = concern(page, "problems")
    assert count == card(page, "Value problems") == sum(int(n) for _, n in rows)
    assert all(what in ISSUE_LABELS.values() for what, _ in rows)
    assert "My Dental Clinic" in todo
    assert "flitstack map propose" in text(attention(page))
    report = run["report"].read_text(encoding="utf-8")
    assert 'href="export-audit/schema-inventory.html"' in report


def test_the_report_without_an_export_shows_the_one_the_workbook_records(
    run: dict[str, Any],
) -> None:
    project: Project = run["project"]
    for given in ("", "."):
        state = StateStore(project.state)
        try:
            page = write_project_report(project.root, state, project.workbook, given)
        finally:
            state.close()
        shown = page.read_text(encoding="utf-8")
        assert "Export <code>.</code>" not in shown
        recorded = html.escape(load_workbook(project.workbook).export)
        assert recorded and f"Export <code>{recorded}</code>" in shown


def test_nothing_needing_attention_says_so(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "flitstack-state.sqlite")
    resolution = [{"provider": "1", "name": "Dr Who", "email": "who@x.example",
                   "user_id": "7", "resolution": "matched by e-mail"}]  # fmt: skip
    try:
        page = write_setup_report(tmp_path / "reports", state, resolution).read_text()
        assert project_attention(tmp_path, state, None) == []
    finally:
        state.close()
    assert 'data-concern="none"' in page and "Nothing needs your attention." in page
    assert "Next step:" in page and "flitstack migrate EXPORT --sample 200" in text(page)
    assert f"flitstack {__version__}" in page


def test_every_issue_code_has_plain_words() -> None:
    from flitstack.transform.emails import INVALID_EMAIL_FLAG

    flags = {"phone_unverified", "truncated", "fuzzy_option", "other_currency",
             "some_codes_invalid", "dst_gap", "dst_ambiguous", INVALID_EMAIL_FLAG}  # fmt: skip
    for code in [*_PROBLEM_MESSAGES, *flags]:
        assert code in ISSUE_LABELS and "_" not in ISSUE_LABELS[code], code
    assert plain_reason("phone_unverified, truncated: cut from 90 to 80 characters") == (
        f"{issue_label('phone_unverified')}; {issue_label('truncated')}: cut from 90 to 80 "
        "characters"
    )
    assert plain_reason("marketing consent of a archived patient: set to no_consent").endswith(
        "set to no consent"
    )
    assert plain_reason("note: kept as written") == "note: kept as written"  # not a code
    assert reason_kind("not a phone number (no digits); left empty") == "junk_phone"
    assert kind_label(reason_kind("patient 90000001 does not exist (orphan)")) == (
        "patient … does not exist (orphan)"
    )
    shown = render("_attention.html.j2", attention=[], next_step="Run `flitstack x <y>`")
    assert "<code>flitstack x &lt;y&gt;</code>" in shown


def test_rejects_and_flags_csv_speaks_plainly(run: dict[str, Any]) -> None:
    rows = read_csv(run["root"] / "reports" / "rejects-and-flags.csv")
    assert rows and all(r["kind"] for r in rows)
    for r in rows:
        for code in CODES:
            assert not re.search(rf"\b{code}\b", r["reason"] + r["kind"]), r


def test_a_check_that_is_not_clean_leads_with_why(tmp_path: Path) -> None:
    """Differences and withheld data found in the account are the first things said, each
    with what to do; the run report's verdict agrees."""
    from flitstack.reporting import write_json

    state = StateStore(tmp_path / "flitstack-state.sqlite")
    try:
        run_id = state.start_run("sample")
        state.finish_run(run_id, "done", {"source_rows": {}, "unaccounted": {}})
        state.record_check(run_id, "sample", 40, 2, 5)
        leak = {"category": "clinical_notes", "label": "Clinical notes", "clean": False,
                "found_in_account": 3, "records_of_withheld_kinds": 1}  # fmt: skip
        write_json(tmp_path / "reports" / "sample-diff.json", {"protection": [leak]})
        found = {c.key: c for c in project_attention(tmp_path, state, None, "/data/export")}
        assert found["differences-sample"].count == 2 and found["differences-sample"].level == "bad"
        assert "flitstack rollback /data/export" in found["differences-sample"].next
        assert found["withheld-sample"].rows == [("Clinical notes", "3 values, 1 records")]
        page = write_project_report(tmp_path, state, tmp_path / "flitstack-map.yaml", "/x")
        shown = page.read_text(encoding="utf-8")
    finally:
        state.close()
    assert concern(shown, "differences-sample")[0] == 2
    row = re.search(r"<td>Sample migration</td>(.*?)</tr>", shown, re.S)
    assert row and "not clean" in row.group(1)
