"""Writers for the schema inventory: HTML for people, CSV and JSON for machines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flitstack import __version__
from flitstack.reporting import private_dir, write_csv, write_html, write_json
from flitstack.source.audit import AuditReport

Targets = dict[tuple[str, str], tuple[str, str]]


@dataclass
class AuditPaths:
    html: Path
    csv: Path
    json: Path
    rejects: Path


def damage_rows(report: AuditReport) -> list[tuple[str, int, str]]:
    d = report.damage
    rows = [
        (f"Orphan reference: {where}", n, "row is migrated without that link and flagged")
        for where, n in d.orphan_references.items()
    ]
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
