"""The run report: one offline, printable HTML page per migration project.

Every number comes from the state store (runs, ID map, outcomes, audit log, checks) or from the
step reports written beside it, so the page can be rebuilt at any time with
``flitstack report``; the demo writes it with the results it has in hand.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from flitstack.engine.migration import LOAD_ORDER
from flitstack.engine.reports import write_audit_log
from flitstack.engine.state import StateStore
from flitstack.engine.verify import unaccepted_losses
from flitstack.mapping.confirm import Confirmation, read_confirmation
from flitstack.mapping.workbook import Workbook, WorkbookError, load_workbook
from flitstack.reporting import read_csv, write_csv, write_html


def activity_series(audit: list[dict[str, Any]], buckets: int = 40) -> dict[str, Any]:
    """Writes per second and cumulative tokens over the run, for the report's chart."""
    if not audit:
        return {"points": [], "max_rate": 0, "tokens": 0, "seconds": 0}
    times = [datetime.fromisoformat(a["ts"]) for a in audit]
    start, end = min(times), max(times)
    span = max((end - start).total_seconds(), 1.0)
    width = span / buckets
    counts = [0] * buckets
    tokens = [0] * buckets
    for t, a in zip(times, audit, strict=True):
        i = min(int((t - start).total_seconds() / width), buckets - 1)
        counts[i] += 1
        tokens[i] += int(a["token_cost"] or 0)
    running, points = 0, []
    for i in range(buckets):
        running += tokens[i]
        points.append({"t": round(i * width, 1), "rate": counts[i] / width, "tokens": running})
    return {
        "points": points,
        "max_rate": max(p["rate"] for p in points) or 1,
        "tokens": running or 1,
        "seconds": round(span, 1),
    }


def current_outcomes(state: StateStore) -> list[dict[str, Any]]:
    """Rejected, skipped and flagged rows as the latest full read of an export found them.

    Each run re-reads the export and records its outcomes; a sample's "not in the sample"
    skips, or an earlier run's duplicates, would only blur the picture.
    """
    full = [r["id"] for r in state.runs() if r["kind"] in {"migrate", "delta"}]
    return state.outcomes(max(full)) if full else state.outcomes()


def issue_kind(reason: str) -> str:
    """A reason without its particulars, so the same kind of issue is counted once."""
    return re.sub(r"\b\d+\b", "N", reason.split(";")[0])[:90]


def in_load_order(counts: Mapping[str, int]) -> dict[str, int]:
    """Counts by object, organizations first, as the migration loads them."""
    kinds = [k for k in LOAD_ORDER if k in counts] + sorted(set(counts) - set(LOAD_ORDER))
    return {k: counts[k] for k in kinds}


def created_counts(state: StateStore) -> dict[str, int]:
    """Pipedrive records the migration created, by object, in load order."""
    return in_load_order({k: v.get("created", 0) for k, v in state.counts().items()})


def rollback_status(rollback: dict[str, Any] | None) -> str:
    """One line on the rollback: not run, differences left, or proved."""
    if rollback is None:
        return "not run: `flitstack rollback` deletes what was created and proves it"
    if rollback["differences"]:
        return f"{len(rollback['differences'])} differences remain after rollback"
    return "rolled back and proved: the account matches the snapshot taken before the first write"


def write_run_report(
    out: Path,
    export: Path,
    api_root: str,
    confirmation: Confirmation,
    summary: dict[str, Any],
    state: StateStore,
    resolution: list[dict[str, str]],
    links: list[tuple[str, str]],
    rollback_status: str,
    sample_diff: dict[str, Any] | None = None,
    full_diff: dict[str, Any] | None = None,
    delta: dict[str, Any] | None = None,
    rollback: dict[str, Any] | None = None,
    created: dict[str, int] | None = None,
) -> Path:
    """The run report: one offline HTML page, every number from the state store.

    ``created`` is given when the ID map no longer holds it (after a rollback).
    """
    outcomes = current_outcomes(state)
    issues = Counter((o["outcome"], issue_kind(o["reason"])) for o in outcomes)
    audit = state.audit_rows()
    if created is None:
        created = created_counts(state)
    series = activity_series(audit)
    return write_html(
        out / "report.html",
        "run_report.html.j2",
        project=str(out),
        export=str(export),
        api_root=api_root,
        confirmation=confirmation,
        summary=summary,
        created=created,
        issues=issues.most_common(40),
        resolution=resolution,
        writes=len(audit),
        tokens=sum(int(a["token_cost"] or 0) for a in audit),
        series=series,
        rate=len(audit) / series["seconds"] if series["seconds"] else 0.0,
        rollback_status=rollback_status,
        rollback=rollback,
        sample_diff=sample_diff,
        full_diff=full_diff,
        delta=delta,
        links=links,
    )


#: The step reports the run report links, when they exist (label, path under the project).
STEP_REPORTS = [
    ("Schema inventory", "audit/schema-inventory.html"),
    ("Field map (confirmed)", "{map_html}"),
    ("Setup: custom fields, pipelines, provider resolution", "reports/setup.html"),
    ("Sample diff", "reports/sample-diff.html"),
    ("Full migration diff", "reports/full-migration-diff.html"),
    ("Delta pickup", "reports/delta.html"),
    ("Estimate: requests, tokens, days", "reports/estimate.html"),
    ("Rebuild reference: automations and recall sequences", "reports/rebuild-reference.html"),
    ("Rejected and flagged values", "reports/rejects-and-flags.csv"),
    ("Provider resolution (CSV)", "reports/provider-resolution.csv"),
    ("Custom fields and their Pipedrive hash keys (CSV)", "reports/custom-fields.csv"),
    ("Audit log of every write (CSV)", "reports/audit-log.csv"),
    ("Rollback proof (JSON)", "reports/rollback.json"),
]


DIFF_STEMS = {"sample": "sample", "full": "full-migration"}  # write_diff's file stems


def _last_summary(state: StateStore, kinds: set[str]) -> dict[str, Any] | None:
    done = [r for r in state.runs() if r["kind"] in kinds and r["summary"]]
    return json.loads(done[-1]["summary"]) if done else None


def _check(state: StateStore, kind: str, workbook: Path, reports: Path) -> dict[str, Any] | None:
    """A stored check, its losses weighed against the workbook's accepted losses as now, with
    the appointment times its diff showed in the practice's time zone."""
    check = state.last_check(kind)
    if check is None:
        return None
    sidecar = reports / f"{DIFF_STEMS[kind]}-diff.json"
    times = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
    try:
        wb: Workbook | None = load_workbook(workbook)
    except WorkbookError:
        wb = None
    unaccepted = unaccepted_losses(state, int(check["run_id"]), wb)
    return {
        "records": check["records"], "fields": check["fields"],
        "differences": check["differences"], "missing_records": "incl.",
        "losses_over_limit": len(state.losses(int(check["run_id"]))),
        "unaccepted_losses": unaccepted,
        "clean": not check["differences"] and not unaccepted,
        "times": times.get("times", []), "timezone": times.get("timezone", ""),
    }  # fmt: skip


def write_project_report(
    root: Path,
    state: StateStore,
    workbook: Path,
    export: str = "",
    api_root: str = "",
    diffs: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Rebuild ``report.html`` of a project from its state and step reports.

    ``diffs`` ("sample", "full") are the summaries of diffs in hand; otherwise the stored checks
    are shown, whose difference counts include records found missing.
    """
    reports = root / "reports"
    write_outcomes(state, reports / "rejects-and-flags.csv")
    if state.audit_rows():
        write_audit_log(state, reports / "audit-log.csv")
    summary = _last_summary(state, {"migrate"}) or _last_summary(state, {"sample"}) or {}
    summary.setdefault("source_rows", {})
    for part in ("migrated", "merged", "rejected", "skipped"):
        summary.setdefault(part, {})
    summary.setdefault("flagged", 0)
    summary.setdefault("unaccounted", {})
    resolution: list[dict[str, str]] = []
    if (reports / "provider-resolution.csv").exists():
        resolution = read_csv(reports / "provider-resolution.csv")
    rollback = None
    if (reports / "rollback.json").exists():
        rollback = json.loads((reports / "rollback.json").read_text(encoding="utf-8"))
    map_html = _relative(workbook.with_suffix(".html"), root)
    links = [
        (label, path.format(map_html=map_html))
        for label, path in STEP_REPORTS
        if (root / path.format(map_html=map_html)).exists()
    ]
    confirmation = read_confirmation(workbook) or Confirmation(
        workbook=str(workbook), digest="", confirmed_by="(not confirmed)", confirmed_at="",
        review_items=0,
    )  # fmt: skip
    created = created_counts(state)
    if rollback and not any(created.values()):  # the ID map is emptied by the rollback
        created = in_load_order(rollback.get("deleted") or {})
    diffs = diffs or {}
    return write_run_report(
        root, Path(export or "the export"), api_root or "Pipedrive", confirmation, summary, state,
        resolution, links, rollback_status(rollback),
        diffs.get("sample") or _check(state, "sample", workbook, reports),
        diffs.get("full") or _check(state, "full", workbook, reports),
        _last_summary(state, {"delta"}), rollback, created,
    )  # fmt: skip


def write_outcomes(state: StateStore, out: Path) -> Path:
    """Every rejected, skipped and flagged row of the latest full read, with its reason."""
    columns = ["file", "source_id", "line", "field", "outcome", "reason"]
    return write_csv(out, columns, ([o[k] for k in columns] for o in current_outcomes(state)))


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
