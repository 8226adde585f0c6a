"""How big a migration is before it starts: grade, API requests and tokens, days, wall time.

The counts come from streaming the export once (rows that would be rejected are not counted as
writes), the calls from what the engine actually sends for each object, and their token costs
from Pipedrive's specs. A Pipedrive account has a daily token budget and a burst limit: the
first decides over how many days the migration spreads, the second how long each day runs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flitstack.engine.records import norm_name
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import Workbook
from flitstack.pipedrive.costs import token_cost
from flitstack.pipedrive.plans import PLAN_BURST, check_plan, daily_budget, requests_per_second
from flitstack.reporting import private_dir, write_html, write_json
from flitstack.settings import Settings
from flitstack.source.reader import Row, open_export

#: Columns whose text becomes a Note on the Deal made from the row.
DEAL_NOTE_COLUMNS = {"treatment_plans": "Note", "lab_cases": "Instructions", "referrals": "Reason"}
#: Patients per sample migration (the engine's default suggestion in the README).
SAMPLE_PATIENTS = 200
#: Share of the burst ceiling the rate governor reaches (bench/bench_client.py measures it).
GOVERNOR_EFFICIENCY = 0.9


@dataclass
class ObjectLoad:
    """One Pipedrive object: how many records, which call makes each, what it costs."""

    object: str
    records: int
    method: str
    path: str
    why: str

    @property
    def tokens_each(self) -> int:
        return token_cost(self.method, self.path)

    @property
    def tokens(self) -> int:
        return self.records * self.tokens_each


@dataclass
class Grade:
    """The spec's complexity grading, each part with its reason."""

    letter: str
    label: str
    points: int
    reasons: list[str] = field(default_factory=list)


@dataclass
class Estimate:
    export: str
    plan: str
    seats: int
    source_rows: dict[str, int]
    loads: list[ObjectLoad]
    objects_one_to_one: int
    objects_mapped: int
    objects_not_migrated: int
    columns: int
    columns_to_review: int
    grade: Grade
    daily_budget: int
    burst_per_2s: int

    @property
    def requests(self) -> int:
        return sum(load.records for load in self.loads)

    @property
    def tokens(self) -> int:
        return sum(load.tokens for load in self.loads)

    @property
    def days(self) -> int:
        """Calendar days of token budget the migration needs (at least one)."""
        return max(1, math.ceil(self.tokens / self.daily_budget))

    @property
    def wall_seconds(self) -> float:
        """Time spent sending at the burst limit, budget pauses not counted."""
        return self.requests / (requests_per_second(self.plan) * GOVERNOR_EFFICIENCY)

    def as_dict(self) -> dict[str, Any]:
        return {
            "export": self.export, "plan": self.plan, "seats": self.seats,
            "source_rows": self.source_rows,
            "objects": [
                {**asdict(load), "tokens_each": load.tokens_each, "tokens": load.tokens}
                for load in self.loads
            ],
            "requests": self.requests, "tokens": self.tokens,
            "daily_budget": self.daily_budget, "days": self.days,
            "burst_per_2s": self.burst_per_2s, "wall_seconds": round(self.wall_seconds, 1),
            "grade": asdict(self.grade),
            "objects_one_to_one": self.objects_one_to_one,
            "objects_mapped": self.objects_mapped,
            "objects_not_migrated": self.objects_not_migrated,
            "columns": self.columns, "columns_to_review": self.columns_to_review,
        }  # fmt: skip


@dataclass
class _Counts:
    rows: Counter[str] = field(default_factory=Counter)
    writable: Counter[str] = field(default_factory=Counter)
    live_patients: set[str] = field(default_factory=set)
    with_recalls: set[str] = field(default_factory=set)
    with_ledger: set[str] = field(default_factory=set)
    carriers_used: set[str] = field(default_factory=set)  # distinct carrier names
    partner_orgs: set[str] = field(default_factory=set)  # labs and specialist practices
    deal_notes: int = 0  # plan notes, lab instructions, referral reasons: a note on the Deal
    documents_present: int = 0
    providers_with_email: int = 0


def _count(export_path: Path) -> _Counts:
    """Stream the export: rows per file, and rows that become records (their patient moves)."""
    counts = _Counts()
    with open_export(export_path) as export:
        for item in export.read("patients"):
            counts.rows["patients"] += 1
            if isinstance(item, Row) and item.values.get("Status") != "Deleted":
                counts.live_patients.add(item.source_id or "")
        for file in export.csv_files():
            stem = file.removesuffix(".csv")
            if stem == "patients":
                continue
            for item in export.read(file):
                counts.rows[stem] += 1
                if not isinstance(item, Row):
                    continue  # rejected on reading: never written
                values = item.values
                if "PatientID" in values:
                    patient = str(values.get("PatientID") or "")
                    if patient not in counts.live_patients:
                        continue  # orphan, or the patient is Deleted: not written
                    if stem == "recalls":
                        counts.with_recalls.add(patient)
                    elif stem == "ledger_entries":
                        counts.with_ledger.add(patient)
                    elif stem == "lab_cases" and values.get("LabName"):
                        counts.partner_orgs.add(f"lab:{norm_name(str(values['LabName']))}")
                    elif stem == "referrals" and values.get("PracticeName"):
                        name = norm_name(str(values["PracticeName"]))
                        counts.partner_orgs.add(f"referral:{name}")
                    if str(values.get(DEAL_NOTE_COLUMNS.get(stem, "")) or "").strip():
                        counts.deal_notes += 1
                    elif stem == "documents" and export.document_exists(
                        str(values.get("FileName") or "")
                    ):
                        counts.documents_present += 1
                if stem == "insurance_carriers":  # deduplicated by name, as the engine does
                    name = norm_name(str(values.get("CarrierName") or "")) or item.source_id
                    counts.carriers_used.add(str(name))
                if stem == "providers" and values.get("Email"):
                    counts.providers_with_email += 1
                counts.writable[stem] += 1
    return counts


def _loads(counts: _Counts, wb: Workbook) -> list[ObjectLoad]:
    live = len(counts.live_patients)

    def child(file: str) -> int:
        return counts.writable[file]

    custom_fields = {(c.target, c.custom.name) for c in wb.columns if c.migrate and c.custom}
    custom_fields |= {("person", p.name) for p in wb.custom_properties}
    stages = sum(len(p.stages) for p in wb.pipelines)
    ledgers = len(counts.with_ledger)
    recalls = len(counts.with_recalls)
    records = (
        live
        + counts.writable["locations"]
        + len(counts.carriers_used)
        + len(counts.partner_orgs)
        + child("appointments")
        + recalls
        + child("treatment_plans")
        + child("lab_cases")
        + child("referrals")
        + child("clinical_notes")
        + counts.deal_notes
        + counts.documents_present
        + 2 * ledgers
    )
    sample_share = min(SAMPLE_PATIENTS / max(live, 1), 1.0)
    return [
        ObjectLoad("setup: custom fields", len(custom_fields), "POST", "/v2/personFields",
                   "one per custom field the map needs (existing same-name fields are reused)"),
        ObjectLoad("setup: pipelines", len(wb.pipelines), "POST", "/v2/pipelines",
                   "treatment plans, lab cases, referrals"),
        ObjectLoad("setup: stages", stages, "POST", "/v2/stages", "from the status value maps"),
        ObjectLoad("setup: provider look-ups", counts.providers_with_email, "GET",
                   "/v1/users/find", "each provider's e-mail matched to a Pipedrive user"),
        ObjectLoad("organizations",
                   counts.writable["locations"] + len(counts.carriers_used)
                   + len(counts.partner_orgs), "POST", "/v2/organizations",
                   "locations, insurance carriers (one per name), labs and specialist practices"),
        ObjectLoad("persons", live, "POST", "/v2/persons", "patients not marked Deleted"),
        ObjectLoad("activities", child("appointments") + recalls, "POST", "/v2/activities",
                   "appointments, plus each patient's last recall as a task"),
        ObjectLoad("deals", child("treatment_plans") + child("lab_cases") + child("referrals"),
                   "POST", "/v2/deals", "treatment plans, lab cases and referrals"),
        ObjectLoad("notes", child("clinical_notes") + counts.deal_notes + ledgers, "POST",
                   "/v1/notes", "clinical notes; plan notes, lab instructions and referral "
                   "reasons on their Deal; one ledger explanation per patient with a ledger"),
        ObjectLoad("files", counts.documents_present + ledgers, "POST", "/v1/files",
                   "documents whose file is in the export, plus the ledger history as a CSV "
                   "per patient"),
        ObjectLoad("sample read-back", round(records * sample_share), "GET", "/v2/persons/1",
                   f"the sample of {SAMPLE_PATIENTS} patients read back for the field diff"),
        ObjectLoad("full read-back", records, "GET", "/v2/persons/1",
                   "every record read back after the full run (flitstack verify)"),
    ]  # fmt: skip


def grade(
    one_to_one: int, mapped: int, columns: int, to_review: int, records: int, days: int
) -> Grade:
    """Points for transformation share, unclear columns, volume and budget days → A–D."""
    points, reasons = 0, []
    objects = max(one_to_one + mapped, 1)
    if mapped / objects > 0.5:
        points += 2
    elif mapped / objects > 0.25:
        points += 1
    reasons.append(f"{mapped} of {objects} objects need a mapping; the rest are 1:1")
    review = to_review / max(columns, 1)
    points += 2 if review > 0.10 else 1 if review > 0.03 else 0
    reasons.append(
        f"{to_review} of {columns} columns need a person's review"
        if to_review
        else f"all {columns} columns mapped with confidence (to be confirmed on the sample)"
    )
    points += 2 if records > 500_000 else 1 if records > 50_000 else 0
    reasons.append(f"{records:,} Pipedrive records to write")
    if days > 3:
        points += 1
    reasons.append(f"{days} day{'s' if days != 1 else ''} of the account's token budget")
    letter, label = (
        ("A", "Simple") if points <= 1
        else ("B", "Standard") if points <= 3
        else ("C", "Complex") if points <= 5
        else ("D", "Very complex")
    )  # fmt: skip
    return Grade(letter, label, points, reasons)


def estimate_migration(
    export: Path, plan: str, seats: int, settings: Settings | None = None
) -> Estimate:
    """Estimate an export's migration into an account of ``plan`` with ``seats`` seats."""
    plan = check_plan(plan)
    if seats < 1:
        raise ValueError(f"seats must be at least 1, not {seats}")
    wb = propose_map(export, settings or Settings())
    counts = _count(export)
    loads = _loads(counts, wb)
    moving = [o for o in wb.objects if o.targets]
    one_to_one = sum(1 for o in moving if o.cardinality == "1:1" and len(o.targets) == 1)
    columns = [c for c in wb.columns if c.migrate]
    partial = Estimate(
        export=str(export), plan=plan, seats=seats,
        source_rows={k: counts.rows[k] for k in sorted(counts.rows)}, loads=loads,
        objects_one_to_one=one_to_one, objects_mapped=len(moving) - one_to_one,
        objects_not_migrated=len(wb.objects) - len(moving), columns=len(columns),
        columns_to_review=sum(1 for c in wb.columns if c.review),
        grade=Grade("?", "", 0), daily_budget=daily_budget(plan, seats),
        burst_per_2s=PLAN_BURST[plan],
    )  # fmt: skip
    records = sum(load.records for load in loads if not load.object.endswith("read-back"))
    partial.grade = grade(
        one_to_one, partial.objects_mapped, partial.columns, partial.columns_to_review,
        records, partial.days,
    )  # fmt: skip
    return partial


def write_estimate(est: Estimate, outdir: Path) -> tuple[Path, Path]:
    """``estimate.html`` and ``estimate.json`` (owner-only)."""
    private_dir(outdir)
    data = est.as_dict()
    return (
        write_html(outdir / "estimate.html", "estimate.html.j2", e=data, est=est),
        write_json(outdir / "estimate.json", data),
    )
