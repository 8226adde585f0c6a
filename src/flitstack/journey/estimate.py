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

from flitstack.engine.migration import pick_covering
from flitstack.engine.records import ENGINE_FIELDS, norm_name
from flitstack.mapping.propose import propose_map
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import Workbook
from flitstack.pipedrive.client import V1_KINDS
from flitstack.pipedrive.costs import token_cost
from flitstack.pipedrive.plans import PLAN_BURST, check_plan, daily_budget, requests_per_second
from flitstack.reporting import private_dir, write_html, write_json
from flitstack.settings import Settings
from flitstack.source.reader import BindingSource, Row, open_export

#: Columns whose text becomes a Note on the Deal made from the row.
DEAL_NOTE_COLUMNS = {"treatment_plans": "Note", "lab_cases": "Instructions", "referrals": "Reason"}
#: Patients per sample migration (the engine's default suggestion in the README).
SAMPLE_PATIENTS = 200
#: Times the engine reads the account's setup (field lists, pipelines, stages, users, activity
#: types): once for each of ``flitstack setup``, ``migrate --sample``, ``migrate``, ``verify``.
SETUP_PASSES = 4
#: Share of the burst ceiling the rate governor reaches (bench/bench_client.py measures it).
GOVERNOR_EFFICIENCY = 0.9
#: The Pipedrive kinds the engine writes, and whether Pipedrive serves them on v1 or v2.
WRITTEN = ("organizations", "persons", "activities", "deals", "notes", "files")


@dataclass
class Call:
    """``count`` requests of one operation."""

    method: str
    path: str
    count: int

    @property
    def cost(self) -> int:
        return token_cost(self.method, self.path)


@dataclass
class ObjectLoad:
    """One line of the migration: how many requests of which operations, what they cost."""

    object: str
    why: str
    calls: list[Call]

    @property
    def records(self) -> int:
        """Requests on this line (one record each for the writes)."""
        return sum(c.count for c in self.calls)

    @property
    def tokens(self) -> int:
        return sum(c.count * c.cost for c in self.calls)

    @property
    def tokens_each(self) -> str:
        """The token cost of one request: ``5``, or ``1–2`` when the line mixes operations."""
        costs = {c.cost for c in self.calls if c.count} or {c.cost for c in self.calls}
        low, high = min(costs, default=0), max(costs, default=0)
        return str(low) if low == high else f"{low}–{high}"

    @property
    def operations(self) -> str:
        return ", ".join(dict.fromkeys(f"{c.method} {c.path}" for c in self.calls))


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
    sample_patients: int
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
    def records_written(self) -> int:
        """Pipedrive records the migration creates (setup and reads not counted)."""
        return sum(load.records for load in self.loads if load.object in WRITTEN)

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
            "sample_patients": self.sample_patients, "source_rows": self.source_rows,
            "objects": [
                {"object": load.object, "why": load.why, "requests": load.records,
                 "records": load.records, "operations": load.operations,
                 "tokens_each": load.tokens_each, "tokens": load.tokens,
                 "calls": [{**asdict(c), "tokens_each": c.cost} for c in load.calls]}
                for load in self.loads
            ],
            "requests": self.requests, "tokens": self.tokens,
            "records_written": self.records_written,
            "daily_budget": self.daily_budget, "days": self.days,
            "burst_per_2s": self.burst_per_2s, "wall_seconds": round(self.wall_seconds, 1),
            "grade": asdict(self.grade),
            "objects_one_to_one": self.objects_one_to_one,
            "objects_mapped": self.objects_mapped,
            "objects_not_migrated": self.objects_not_migrated,
            "columns": self.columns, "columns_to_review": self.columns_to_review,
        }  # fmt: skip


@dataclass
class _Patient:
    """What one live patient brings along: records per kind and the organizations it uses."""

    records: Counter[str] = field(default_factory=Counter)
    recalls: bool = False
    ledger: bool = False
    carrier_ids: set[str] = field(default_factory=set)
    partner_orgs: set[str] = field(default_factory=set)


@dataclass
class _Counts:
    rows: Counter[str] = field(default_factory=Counter)
    writable: Counter[str] = field(default_factory=Counter)
    live: dict[str, _Patient] = field(default_factory=dict)  # in export order
    features: dict[str, set[str]] = field(default_factory=dict)  # the sample's hard cases
    locations: int = 0
    carrier_name: dict[str, str] = field(default_factory=dict)  # carrier ID → deduplicated name

    def records(self, patients: list[str] | set[str], sample: bool) -> Counter[str]:
        """Records the engine writes when it migrates ``patients`` (all of them, or a sample).

        The full run creates every carrier of the export; a sample only those its patients use.
        """
        out: Counter[str] = Counter()
        carriers: set[str] = set()
        partners: set[str] = set()
        for pid in patients:
            p = self.live[pid]
            out.update(p.records)
            out["persons"] += 1
            out["activities"] += p.recalls  # the last recall, as a task
            out["notes"] += p.ledger  # the ledger explanation…
            out["files"] += p.ledger  # …and the ledger history as a CSV
            carriers |= {self.carrier_name[c] for c in p.carrier_ids if c in self.carrier_name}
            partners |= p.partner_orgs
        if not sample:
            carriers = set(self.carrier_name.values())
        out["organizations"] = self.locations + len(carriers) + len(partners)
        return out


def _feature(stem: str, values: dict[str, Any], raw: dict[str, Any]) -> list[str]:
    """The hard cases a row gives its patient, as the engine's sample pick sees them."""
    if stem == "patient_insurance":
        second = str(raw.get("Ordinal") or "").strip() in {"2", "3"}
        return ["secondary", "primary"] if second else ["primary"]
    if stem == "treatment_plans":
        active = values.get("Status") in {"Proposed", "Accepted", "InProgress"}
        return ["active_plan"] if active else []
    names = {"appointments": "appointments", "recalls": "recall", "lab_cases": "lab_case",
             "referrals": "referral", "clinical_notes": "notes", "documents": "documents",
             "ledger_entries": "ledger"}  # fmt: skip
    return [names[stem]] if stem in names else []


def _count(export_path: Path, bindings: BindingSource | None = None) -> _Counts:
    """Stream the export: rows per file, and the records each live patient brings along.

    Rows are read through ``bindings``, so values are found by role whatever the headers say.
    """
    counts = _Counts()
    with open_export(export_path, bindings) as export:
        for item in export.read("patients"):
            counts.rows["patients"] += 1
            if isinstance(item, Row) and item.values.get("Status") != "Deleted":
                counts.live.setdefault(item.source_id or "", _Patient())
        for file in export.csv_files():
            stem = file.removesuffix(".csv")
            if stem == "patients":
                continue
            for item in export.read(file):
                counts.rows[stem] += 1
                if not isinstance(item, Row):
                    continue  # rejected on reading: never written
                values = item.values
                if stem == "locations":
                    counts.locations += 1
                if stem == "insurance_carriers":  # deduplicated by name, as the engine does
                    name = norm_name(str(item.raw.get("CarrierName") or "").strip())
                    counts.carrier_name[item.source_id or ""] = name or item.source_id or ""
                if "PatientID" not in values:
                    counts.writable[stem] += 1
                    continue
                raw_pid = str(item.raw.get("PatientID") or "").strip()
                for feature in _feature(stem, values, item.raw):
                    counts.features.setdefault(raw_pid, set()).add(feature)
                patient = counts.live.get(str(values.get("PatientID") or ""))
                if patient is None:
                    continue  # orphan, or the patient is Deleted: not written
                counts.writable[stem] += 1
                kind = CHILD_KIND.get(stem)
                if kind:
                    patient.records[kind] += 1
                if stem == "recalls":
                    patient.recalls = True
                elif stem == "ledger_entries":
                    patient.ledger = True
                elif stem == "patient_insurance":
                    patient.carrier_ids.add(str(item.raw.get("CarrierID") or "").strip())
                elif stem == "lab_cases" and values.get("LabName"):
                    patient.partner_orgs.add(f"lab:{norm_name(str(values['LabName']))}")
                elif stem == "referrals" and values.get("PracticeName"):
                    patient.partner_orgs.add(f"referral:{norm_name(str(values['PracticeName']))}")
                if str(values.get(DEAL_NOTE_COLUMNS.get(stem, "")) or "").strip():
                    patient.records["notes"] += 1  # a note on the Deal
                elif stem == "documents" and export.document_exists(
                    str(values.get("FileName") or "")
                ):
                    patient.records["files"] += 1
    return counts


#: Source file → the Pipedrive kind each of its rows becomes.
CHILD_KIND = {"appointments": "activities", "treatment_plans": "deals", "lab_cases": "deals",
              "referrals": "deals", "clinical_notes": "notes"}  # fmt: skip


def _read_back(records: Counter[str]) -> list[Call]:
    return [
        Call("GET", f"/{'v1' if kind in V1_KINDS else 'v2'}/{kind}/{{id}}", records[kind])
        for kind in WRITTEN
        if records[kind]
    ]


def _loads(counts: _Counts, wb: Workbook, sample_patients: int) -> list[ObjectLoad]:
    live = list(counts.live)
    total = counts.records(live, sample=False)
    sample = counts.records(pick_covering(live, counts.features, sample_patients), sample=True)
    fields: Counter[str] = Counter()
    wanted = {key for key in wb.custom_fields() if key[0] in {"person", "organization", "deal"}}
    wanted |= {(target, name) for target, name, _type, _options in ENGINE_FIELDS}
    for target, _name in wanted:
        fields[target] += 1
    pipes = len(wb.pipelines)
    stages = sum(len(p.stages) for p in wb.pipelines)
    n = SETUP_PASSES
    targets = ("person", "organization", "deal")
    why = {
        "organizations": "locations, insurance carriers (one per name), labs and specialist "
        "practices",
        "persons": "patients not marked Deleted",
        "activities": "appointments, plus each patient's last recall as a task",
        "deals": "treatment plans, lab cases and referrals",
        "notes": "clinical notes; plan notes, lab instructions and referral reasons on their "
        "Deal; one ledger explanation per patient with a ledger",
        "files": "documents whose file is in the export, plus the ledger history as a CSV per "
        "patient",
    }
    create = {"notes": "/v1/notes", "files": "/v1/files"}
    return [
        ObjectLoad("setup: custom fields",
                   "one per custom field the map and the engine need (same-name fields already "
                   "in the account are reused)",
                   [Call("POST", f"/v2/{t}Fields", fields[t]) for t in targets]),
        ObjectLoad("setup: pipelines", "treatment plans, lab cases, referrals",
                   [Call("POST", "/v2/pipelines", pipes)]),
        ObjectLoad("setup: stages", "from the status value maps",
                   [Call("POST", "/v2/stages", stages)]),
        ObjectLoad("setup: account reads",
                   "the rollback snapshot once (an empty account: one page per list), then the "
                   f"fields, pipelines, stages, users and activity types on each of {n} passes "
                   "(setup, sample, full run, verify)",
                   [*(Call("GET", f"/v2/{k}", 1) for k in WRITTEN if k not in V1_KINDS),
                    *(Call("GET", f"/v1/{k}", 1) for k in sorted(V1_KINDS)),
                    *(Call("GET", f"/v2/{t}Fields", 1 + n) for t in targets),
                    Call("GET", "/v2/pipelines", 1 + n),
                    Call("GET", "/v2/stages", 1 + n * pipes),
                    Call("GET", "/v1/users", n), Call("GET", "/v1/users/me", n),
                    Call("GET", "/v1/activityTypes", n)]),
        *(ObjectLoad(kind, why[kind],
                     [Call("POST", create.get(kind, f"/v2/{kind}"), total[kind])])
          for kind in WRITTEN),
        ObjectLoad("sample read-back",
                   f"what the sample of {min(sample_patients, len(live))} patients (the hard "
                   "cases first) wrote, read back for the field diff",
                   _read_back(sample)),
        ObjectLoad("full read-back", "every record read back after the full run (flitstack "
                   "verify)", _read_back(total)),
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
    export: Path,
    plan: str,
    seats: int,
    settings: Settings | None = None,
    sample_patients: int = SAMPLE_PATIENTS,
    *,
    workbook: Workbook | None = None,
    bindings: BindingSource | None = None,
) -> Estimate:
    """Estimate an export's migration into an account of ``plan`` with ``seats`` seats.

    The flow priced is the README's: setup, a sample of ``sample_patients`` patients and its
    diff, the full run and its verify. ``workbook`` is the project's map (confirmed or
    proposed; default: the proposal for this export): it decides the custom fields, pipelines
    and grade, and which header plays which role unless ``bindings`` are given.
    """
    plan = check_plan(plan)
    if seats < 1:
        raise ValueError(f"seats must be at least 1, not {seats}")
    if sample_patients < 1:
        raise ValueError(f"the sample needs at least 1 patient, not {sample_patients}")
    wb = workbook if workbook is not None else propose_map(export, settings or Settings())
    counts = _count(export, bindings if bindings is not None else Bindings.from_workbook(wb))
    loads = _loads(counts, wb, sample_patients)
    moving = [o for o in wb.objects if o.targets]
    one_to_one = sum(1 for o in moving if o.cardinality == "1:1" and len(o.targets) == 1)
    columns = [c for c in wb.columns if c.migrate]
    partial = Estimate(
        export=str(export), plan=plan, seats=seats, sample_patients=sample_patients,
        source_rows={k: counts.rows[k] for k in sorted(counts.rows)}, loads=loads,
        objects_one_to_one=one_to_one, objects_mapped=len(moving) - one_to_one,
        objects_not_migrated=len(wb.objects) - len(moving), columns=len(columns),
        columns_to_review=sum(1 for c in wb.columns if c.review),
        grade=Grade("?", "", 0), daily_budget=daily_budget(plan, seats),
        burst_per_2s=PLAN_BURST[plan],
    )  # fmt: skip
    partial.grade = grade(
        one_to_one, partial.objects_mapped, partial.columns, partial.columns_to_review,
        partial.records_written, partial.days,
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
