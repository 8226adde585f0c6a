"""Writers for the schema inventory: HTML for people, CSV and JSON for machines."""

from __future__ import annotations

import shlex
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flitstack import __version__
from flitstack.reporting import (
    Concern,
    issue_label,
    kind_label,
    private_dir,
    reason_kind,
    write_csv,
    write_html,
    write_json,
)
from flitstack.source.audit import AuditReport

Targets = dict[tuple[str, str], tuple[str, str]]


@dataclass
class AuditPaths:
    html: Path
    csv: Path
    json: Path
    rejects: Path


def reading_notes(report: AuditReport) -> list[str]:
    """How the export was read where it differs from what MDC writes, one line each: files
    named as parts of the format's (the run refuses them), dates written day first, separators
    other than the comma, lines above a header."""
    notes = [
        f"{', '.join(names)}: named as part of {known}.csv; the run refuses "
        f"{'it' if len(names) == 1 else 'them'} until the rows are joined into {known}.csv"
        for known, names in sorted(report.parts.items())
    ]
    orders = report.date_orders()
    if len(orders) == 2:
        day, month = sorted(orders["day-first"]), sorted(orders["month-first"])
        notes.append(
            f"dates are written both ways: only day first in {_listed(day, 2)}, only month "
            f"first in {_listed(month, 2)}: all are read as date_order says "
            f"({report.date_order}), and those that read only the other way are lost; check "
            "the export"
        )
    elif report.date_order != ("day-first" if report.dates_read_day_first else "month-first"):
        columns = sorted(orders["day-first"])  # as read: they contradict the reading
        notes.append(
            f"dates are written {report.date_order.replace('-', ' ')} ({len(columns)} column"
            f"{'' if len(columns) == 1 else 's'}, e.g. {columns[0]}): the map proposes "
            f"date_order: {report.date_order}"
        )
    by_separator: dict[str, list[str]] = {}
    for f in report.files:
        if f.delimiter != ",":
            by_separator.setdefault(f.delimiter, []).append(f"{f.file}.csv")
    for separator, files in sorted(by_separator.items()):
        notes.append(f"fields separated by {separator}: {_listed(files)}")
    titled = [f"{f.file}.csv" for f in report.files if f.preamble]
    if titled:
        notes.append(f"lines above the header skipped (a title, blank lines): {_listed(titled)}")
    return notes


def _listed(files: list[str], shown: int = 4) -> str:
    more = len(files) - shown
    return ", ".join(files[:shown]) + (f" and {more} more" if more > 0 else "")


def damage_rows(report: AuditReport) -> list[tuple[str, int, str]]:
    d = report.damage
    rows = [
        (f"Orphan reference: {where}", n, "row is migrated without that link and flagged")
        for where, n in d.orphan_references.items()
    ]
    rows += [
        (f"Rows repeating an earlier row's ID: {where}", n,
         "the first row is migrated; a later exact copy is skipped, one with other values "
         "rejected (both in the rejects report)")
        for where, n in d.repeated_ids.items()
    ]  # fmt: skip
    rows += [
        (
            "Likely duplicate patients (same name and date of birth)",
            d.duplicate_patients,
            "review before the load; duplicates are matched, never created twice",
        ),
        (
            "Patients without e-mail",
            d.patients_without_email,
            "land with an empty e-mail field, flagged for manual review",
        ),
        (
            "Patients with an invalid e-mail",
            d.invalid_emails,
            "e-mail kept out of the field, flagged for manual review",
        ),
        ("Patients with a junk phone", d.junk_phones, "phone not migrated, flagged"),
        (
            "Providers without e-mail",
            d.providers_without_email,
            "cannot be matched to a Pipedrive user: fallback owner",
        ),
        (
            "Documents whose file is missing",
            d.missing_document_files,
            "listed in the rejects report; not uploaded",
        ),
        (
            "Deleted patients that still have appointments",
            d.deleted_patients_with_appointments,
            "migrated as the map decides for status Deleted",
        ),
        (
            "Guarantors in another family",
            d.guarantors_in_other_families,
            "kept as recorded; review family links",
        ),
    ]
    return rows


#: rows listed under one attention item
LISTED = 12


def audit_attention(report: AuditReport) -> list[Concern]:
    """What the inventory asks of the reader, most serious first, each with what to do next:
    rows that cannot be read, values with problems by kind, damage, providers that will go to
    the fallback owner, files missing from the export."""
    out: list[Concern] = []
    if report.missing_files:
        out.append(Concern(
            "missing_files", "files missing from this export", len(report.missing_files),
            "Check that the export is complete: export again from My Dental Clinic with every "
            "file, then audit it again.",
            rows=[(f"{f}.csv", "") for f in report.missing_files],
        ))  # fmt: skip
    if report.rejects_total:
        kinds = Counter(kind_label(reason_kind(r.reason)) for r in report.rejects)
        listed = sum(kinds.values())
        out.append(Concern(
            "rejected", "rows that cannot be read (they will not migrate)", report.rejects_total,
            "Each is in rejects.csv with its file and line. Correct them in My Dental Clinic and "
            "export again, or go ahead: the run report lists them again.",
            "bad", [(k, str(n)) for k, n in kinds.most_common(LISTED)],
            max(report.rejects_total - listed, 0), "rejects.csv",
        ))  # fmt: skip
    problems = report.problem_totals()
    if problems:
        out.append(Concern(
            "problems", "values with a problem, by kind", sum(problems.values()),
            "These values are flagged (or left empty) when migrated. Correct what you can in My "
            "Dental Clinic before the final export; each column's problems are in the tables "
            "below.",
            rows=[(issue_label(k), str(n)) for k, n in problems.most_common()],
        ))  # fmt: skip
    d = report.damage
    if d.providers_without_email:
        out.append(Concern(
            "fallback", "providers without an e-mail: their records will go to the fallback "
            "owner", d.providers_without_email,
            "Add each provider's e-mail in My Dental Clinic (the same as their Pipedrive "
            "login), or set the fallback owner in flitstack.toml ([migration] "
            "fallback_owner_email) and reassign their records in Pipedrive afterwards.",
            rows=[(f"provider {p}", "") for p in d.providers_without_email_ids[:LISTED]],
            more=max(len(d.providers_without_email_ids) - LISTED, 0),
        ))  # fmt: skip
    damage = [
        (label, str(n), note) for label, n, note in damage_rows(report)
        if n and not label.startswith("Providers without")
    ]  # fmt: skip
    if damage:
        out.append(Concern(
            "damage", "gaps and broken links in the export", sum(int(n) for _, n, _ in damage),
            "Nothing to do before the map unless you can fix them in My Dental Clinic: the "
            "table “Referential damage and gaps” below says what happens to each.",
            rows=[(label, n) for label, n, _ in damage],
        ))  # fmt: skip
    return out


def write_audit(report: AuditReport, outdir: Path, targets: Targets | None = None) -> AuditPaths:
    """Write schema-inventory.html/.csv/.json and rejects.csv (all owner-only)."""
    private_dir(outdir)
    targets = targets or {}
    paths = AuditPaths(
        outdir / "schema-inventory.html",
        outdir / "schema-inventory.csv",
        outdir / "schema-inventory.json",
        outdir / "rejects.csv",
    )
    write_html(
        paths.html,
        "audit.html.j2",
        report=report,
        targets=targets,
        damage_rows=damage_rows(report),
        problems_total=sum(report.problem_totals().values()),
        version=__version__,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        export_path=report.export,
        attention=audit_attention(report),
        next_step=(
            "Propose the field map: <cmd>, review it (`flitstack map review` opens it in your "
            "browser), then `flitstack map confirm`."
        ).replace("<cmd>", f"`flitstack map propose {shlex.quote(report.export or 'EXPORT')}`"),
    )
    write_csv(
        paths.csv,
        [
            "file",
            "column",
            "known",
            "schema_kind",
            "inferred_type",
            "rows",
            "null_rate",
            "cardinality",
            "cardinality_capped",
            "cardinality_how",
            "max_length",
            "personal",
            "examples",
            "problems",
            "target",
            "target_reason",
        ],
        (
            [
                c.file,
                c.column,
                c.known,
                c.kind or "",
                c.inferred_type,
                c.rows,
                c.null_rate,
                c.cardinality,
                c.cardinality_capped,
                c.cardinality_how,
                c.max_length,
                c.personal,
                " | ".join(c.examples),
                ";".join(f"{k}={v}" for k, v in c.problems.items()),
                *targets.get((c.file, c.column), ("", "")),
            ]
            for c in report.profiles
        ),
    )
    data = report.model_dump(mode="json")
    data["targets"] = [
        {"file": f, "column": c, "target": t, "reason": r} for (f, c), (t, r) in targets.items()
    ]
    write_json(paths.json, data)
    write_csv(
        paths.rejects,
        ["file", "line", "column", "reason"],
        ([r.file, r.line, r.column or "", r.reason] for r in report.rejects),
    )
    return paths
