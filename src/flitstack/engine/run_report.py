"""The run report: one offline, printable HTML page per migration project.

Every number comes from the state store (runs, ID map, outcomes, audit log, checks) or from the
step reports written beside it, so the page can be rebuilt at any time with
``flitstack report``; the demo writes it with the results it has in hand.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from flitstack.engine.migration import LOAD_ORDER
from flitstack.engine.reports import (
    DIFF_STEMS,
    audit_inventory,
    current_outcomes,
    delta_review,
    issues_by_kind,
    last_summary,
    project_page,
    shown_export,
    write_audit_log,
    write_delta_report,
    write_setup_report,
)
from flitstack.engine.state import StateStore
from flitstack.engine.verify import HTML_RECORDS, TIME_EXAMPLES, unaccepted_losses
from flitstack.mapping.confirm import Confirmation, read_confirmation
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import Workbook, WorkbookError, load_workbook
from flitstack.reporting import (
    kind_label,
    plain_reason,
    read_csv,
    reason_kind,
    restore_cell,
    write_csv,
    write_html,
)

__all__ = ["current_outcomes", "write_outcomes", "write_project_report", "write_run_report"]


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


def issue_kind(reason: str) -> str:
    """A reason without its particulars, so the same kind of issue is counted once."""
    return reason_kind(reason)


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
    page: dict[str, Any] | None = None,
) -> Path:
    """The run report: one offline HTML page, every number from the state store.

    ``created`` is given when the ID map no longer holds it (after a rollback); ``page`` is
    :func:`~flitstack.engine.reports.project_page`'s (what needs attention, the export).
    """
    issues = issues_by_kind(current_outcomes(state))
    audit = state.audit_rows()
    if created is None:
        created = created_counts(state)
    series = activity_series(audit)
    page = page or {"export_path": str(export), "attention": [], "next_step": ""}
    return write_html(
        out / "report.html",
        "run_report.html.j2",
        project=str(out),
        export=page["export_path"] or str(export),
        api_root=api_root,
        confirmation=confirmation,
        summary=summary,
        created=created,
        issues=issues,
        flagged=sum(i["count"] for i in issues if i["outcome"] == "flagged"),
        rejected=sum(i["count"] for i in issues if i["outcome"] == "rejected"),
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
        delta_review=len(delta_review(delta)),
        links=links,
        **{k: v for k, v in page.items() if k != "export_path"},
        export_path=page["export_path"] or str(export),
    )


#: The step reports the run report links, when they exist (label, path under the project).
STEP_REPORTS = [
    ("Schema inventory", "{inventory}"),
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


def _last_summary(state: StateStore, kinds: set[str]) -> dict[str, Any] | None:
    return last_summary(state, kinds)


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
    leaked = [p for p in times.get("protection") or [] if p.get("clean") is False]
    return {
        "records": check["records"], "fields": check["fields"],
        "differences": check["differences"], "missing_records": "incl.",
        "losses_over_limit": len(state.losses(int(check["run_id"]))),
        "unaccepted_losses": unaccepted,
        "clean": not check["differences"] and not unaccepted and not leaked,
        "times": times.get("times", []), "timezone": times.get("timezone", ""),
        "protection": times.get("protection", []),
    }  # fmt: skip


def write_project_report(
    root: Path,
    state: StateStore,
    workbook: Path,
    export: str = "",
    api_root: str = "",
    diffs: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Rebuild ``report.html`` of a project from its state and step reports, and refresh the
    step pages (setup, diffs, delta) so each opens with what needs attention as it is now.

    ``diffs`` ("sample", "full") are the summaries of diffs in hand; otherwise the stored checks
    are shown, whose difference counts include records found missing. Without ``export`` (or
    with "."), the export the workbook records is shown.
    """
    reports = root / "reports"
    try:
        bindings: Bindings | None = Bindings.from_workbook(load_workbook(workbook))
    except WorkbookError:
        bindings = None
    write_outcomes(state, reports / "rejects-and-flags.csv", bindings)
    if state.audit_rows():
        write_audit_log(state, reports / "audit-log.csv")
    export = shown_export(export, workbook)
    page = project_page(root, state, workbook, export)
    refresh_step_pages(root, state, workbook, page)
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
    inventory = audit_inventory(root, export)
    paths = {
        "map_html": _relative(workbook.with_suffix(".html"), root),
        "inventory": _relative(inventory, root) if inventory else "audit/schema-inventory.html",
    }
    links = [
        (label, path.format(**paths))
        for label, path in STEP_REPORTS
        if (root / path.format(**paths)).exists()
    ]
    confirmation = read_confirmation(workbook) or Confirmation(
        workbook=str(workbook), digest="", confirmed_by="(not confirmed)", confirmed_at="",
        review_items=0,
    )  # fmt: skip
    created = created_counts(state)
    if rollback and not any(created.values()):  # the ID map is emptied by the rollback
        created = in_load_order(rollback.get("deleted") or {})
    diffs = diffs or {}
    sample = diffs.get("sample") or _check(state, "sample", workbook, reports)
    full = diffs.get("full") or _check(state, "full", workbook, reports)
    page["protection"] = protection_rows(workbook, (full or {}).get("protection")
                                         or (sample or {}).get("protection") or [])  # fmt: skip
    return write_run_report(
        root, Path(export or "the export"), api_root or "Pipedrive", confirmation, summary,
        state, resolution, links, rollback_status(rollback),
        sample, full, _last_summary(state, {"delta"}), rollback, created, page,
    )  # fmt: skip


def protection_rows(workbook: Path, proofs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per category of patient data: what the practice decided, why, and what the last check
    read back from the account (values of a withheld category looked for, and found)."""
    try:
        wb = load_workbook(workbook)
    except WorkbookError:
        return []
    if wb.protection is None:
        return []
    proven = {p["category"]: p for p in proofs}
    rows = []
    for entry in wb.protection.summary():
        proof = proven.get(entry["category"], {})
        rows.append({**entry, "values_checked": proof.get("values_checked"),
                     "found": proof.get("found_in_account"),
                     "records": proof.get("records_of_withheld_kinds")})  # fmt: skip
    return rows


def refresh_step_pages(
    root: Path, state: StateStore, workbook: Path | None, page: dict[str, Any]
) -> None:
    """Write the setup, diff and delta pages again from what their steps left in the reports
    folder (and the state), each opening with the project's attention as it is now."""
    reports = root / "reports"
    if (reports / "setup.html").exists() and (reports / "provider-resolution.csv").exists():
        write_setup_report(
            reports, state, read_csv(reports / "provider-resolution.csv"),
            page["export_path"], workbook, page,
        )  # fmt: skip
    for kind, stem in DIFF_STEMS.items():
        rewrite_diff_page(reports, stem, kind, state, page)
    delta = reports / "delta.json"
    if (reports / "delta.html").exists() and delta.exists():
        data = json.loads(delta.read_text(encoding="utf-8"))
        write_delta_report(reports, data, str(data.get("export") or "the later export"), page)


DIFF_TITLES = {"sample": "Sample", "full-migration": "Full migration"}


def rewrite_diff_page(
    reports: Path, stem: str, kind: str, state: StateStore, page: dict[str, Any]
) -> Path | None:
    """``<stem>-diff.html`` again from its CSV and JSON (``verify.write_diff``'s), with records
    named by their patient and the attention at the top. Left as it is when its records no
    longer missing cannot be told from the state (the page then keeps what it showed)."""
    html, table, sidecar = (reports / f"{stem}-diff.{ext}" for ext in ("html", "csv", "json"))
    if not (html.exists() and table.exists() and sidecar.exists()):
        return None
    summary = json.loads(sidecar.read_text(encoding="utf-8"))
    by_record: dict[str, list[dict[str, Any]]] = {}
    differences: list[dict[str, Any]] = []
    with table.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            row = {restore_cell(k): restore_cell(v or "") for k, v in row.items() if k}
            shown = {
                "local": row.get("in_practice_time", ""), "object": row["object"],
                "key": row["source_key"], "id": row["pipedrive_id"], "field": row["field"],
                "source": row["mdc_source"], "expected": row["expected"],
                "actual": row["actual"], "equal": row["equal"] == "yes",
            }  # fmt: skip
            if not shown["equal"]:
                differences.append(shown)
            record = f"{shown['object']}|{shown['key']}|{shown['id']}"
            by_record.setdefault(record, []).append(shown)
    missing = _missing(state, kind, {r.split("|")[1] for r in by_record}, summary)
    if missing is None:
        return None
    records = sorted(by_record.items())
    return write_html(
        html,
        "diff.html.j2",
        title=DIFF_TITLES.get(stem, stem),
        summary=summary,
        differences=differences,
        missing=missing,
        records=[(k.split("|"), rows) for k, rows in records[:HTML_RECORDS]],
        times=summary.get("times", [])[:TIME_EXAMPLES],
        timezone=summary.get("timezone", "UTC"),
        records_left_out=max(len(records) - HTML_RECORDS, 0),
        csv_name=table.name,
        **page,
    )


def _missing(
    state: StateStore, kind: str, read_back: set[str], summary: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """The records the check found gone: none, or those of its run the CSV does not hold
    (None when that does not give the count the check recorded)."""
    count = int(summary.get("missing_records") or 0)
    if not count:
        return []
    check = state.last_check(kind)
    if check is None:
        return None
    run_id = int(check["run_id"]) if kind == "sample" else None
    gone = [
        {"key": key, "object": obj, "id": pd_id}
        for key, obj, pd_id, _ in state.payloads(run_id)
        if key not in read_back
    ]
    return sorted(gone, key=lambda m: m["key"]) if len(gone) == count else None


def write_outcomes(state: StateStore, out: Path, bindings: Bindings | None = None) -> Path:
    """Every rejected, skipped and flagged row of the latest full read, with its reason in
    plain words and its kind. ``field`` is the column as the export's header names it (the
    confirmed map's ``bindings``), so a row can be found in the file it came from."""
    columns = ["file", "source_id", "line", "field", "outcome", "reason"]

    def field(o: dict[str, Any]) -> str:
        role = str(o["field"] or "")
        return bindings.header(o["file"], role) if bindings is not None and role else role

    rows = (
        [*(o[k] for k in columns[:3]), field(o), o["outcome"], plain_reason(o["reason"]),
         _kind(o["reason"])]
        for o in current_outcomes(state)
    )  # fmt: skip
    return write_csv(out, [*columns, "kind"], rows)


def _kind(reason: str) -> str:
    return kind_label(reason_kind(reason))


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return os.path.relpath(path, root)
