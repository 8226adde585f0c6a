"""How big a migration is before it starts: grade, API requests and tokens, days, wall time.

The records come from a dry run of the engine itself: the export is read as a migration reads
it and the declared object kinds (``engine/objects``) run against an in-memory target, once for
the full run and once for the sample the engine would pick, so the estimate counts what the
engine writes by construction. The calls come from what the engine sends for each object, and
their token costs from Pipedrive's specs. A Pipedrive account has a daily token budget and a
burst limit: the first decides over how many days the migration spreads, the second how long
each day runs.

The budget is per calendar day in the account's time zone and is renewed at local midnight
(``Settings.account_timezone``, else the practice's ``timezone``), plus any purchased top-up
(``Settings.topup_tokens``). From a start time (default: now) the estimate lays the tokens out
day by day, sending at the governor's pace and stopping when a day's budget is spent: which
calendar days the run spans, when the budget first resets and when the run would finish.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from flitstack.engine.load import Accounting, run_kinds
from flitstack.engine.migration import Migration, export_date
from flitstack.engine.objects import KINDS
from flitstack.engine.records import ENGINE_FIELDS, Builder, Setup
from flitstack.engine.target import InMemoryTarget
from flitstack.mapping.propose import propose_map
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import Workbook
from flitstack.pipedrive import plans
from flitstack.pipedrive.client import V1_KINDS
from flitstack.pipedrive.costs import token_cost
from flitstack.pipedrive.kinds import KINDS as OBJECT_KINDS
from flitstack.pipedrive.kinds import LOAD_ORDER
from flitstack.pipedrive.plans import burst_limit, check_auth, check_plan, daily_budget
from flitstack.reporting import private_dir, write_html, write_json
from flitstack.settings import Settings
from flitstack.source.reader import BindingSource, Export, Row, open_export

#: Patients per sample migration (the engine's default suggestion in the README).
SAMPLE_PATIENTS = 200
#: Times the engine reads the account's setup (field lists, pipelines, stages, users, activity
#: types): once for each of ``flitstack setup``, ``migrate --sample``, ``migrate``, ``verify``.
SETUP_PASSES = 4
#: Share of the burst ceiling the rate governor reaches (bench/bench_client.py measures it).
GOVERNOR_EFFICIENCY = 0.9
#: The Pipedrive kinds the engine writes, in the order it writes them.
WRITTEN = LOAD_ORDER


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
class BudgetDay:
    """One calendar day (in the account's time zone) of the run: tokens sent, from when."""

    day: date
    tokens: int
    starts: datetime
    ends: datetime
    budget_spent: bool  # the run stops at the day's budget and waits for midnight


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
    auth: str = "api_token"
    topup_tokens: int = 0
    timezone: str = "UTC"  # the account's: the budget resets at midnight there
    starts_at: datetime = field(default_factory=plans.utc_now)

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
        """Days' worth of token budget the migration needs (at least one)."""
        return max(1, math.ceil(self.tokens / self.daily_budget))

    @property
    def sending_rate(self) -> float:
        """Requests per second at the governor's share of the burst limit."""
        return self.burst_per_2s / plans.WINDOW_SECONDS * GOVERNOR_EFFICIENCY

    @property
    def wall_seconds(self) -> float:
        """Time spent sending at the burst limit, budget pauses not counted."""
        return self.requests / self.sending_rate

    @property
    def budget_resets_at(self) -> datetime:
        """The first reset after the start: the next midnight in the account's time zone."""
        return plans.next_reset(self.starts_at, self.timezone)

    def schedule(self) -> list[BudgetDay]:
        """The run laid out over calendar days in the account's time zone, from ``starts_at``.

        Each day has its full budget (none of it used before the run), sending goes at the
        governor's pace, and a day ends at its budget or at local midnight, whichever comes
        first; the run resumes as the budget resets (the same command, run again).
        """
        tz = plans.zone(self.timezone)
        moment = plans.aware(self.starts_at).astimezone(tz)
        requests = self.requests
        per_second = self.tokens * self.sending_rate / requests if requests else math.inf
        left = self.tokens
        days: list[BudgetDay] = []
        while True:
            reset = plans.next_reset(moment, tz)
            room = plans.seconds_until_reset(moment, tz)
            sendable = (
                self.daily_budget if per_second == math.inf else int(per_second * room + 1e-6)
            )
            spend = min(left, self.daily_budget, sendable)
            if spend or (not days and not left):  # a day the run sends on (or an empty run)
                took = spend / per_second if per_second not in (0, math.inf) else 0.0
                ends = (moment + timedelta(seconds=took)).astimezone(tz)
                stops = spend == self.daily_budget and left > spend
                days.append(BudgetDay(moment.date(), spend, moment, ends, stops))
            left -= spend
            if left <= 0:
                return days
            moment = reset

    @property
    def calendar_days(self) -> int:
        """Calendar days, in the account's time zone, the run spans from ``starts_at``."""
        return len(self.schedule())

    @property
    def finishes_at(self) -> datetime:
        return self.schedule()[-1].ends

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
            "daily_budget": self.daily_budget, "topup_tokens": self.topup_tokens,
            "days": self.days, "auth": self.auth,
            "burst_per_2s": self.burst_per_2s, "wall_seconds": round(self.wall_seconds, 1),
            "timezone": self.timezone, "starts_at": self.starts_at.isoformat(),
            "budget_resets_at": self.budget_resets_at.isoformat(),
            "calendar_days": self.calendar_days, "finishes_at": self.finishes_at.isoformat(),
            "schedule": [
                {"day": d.day.isoformat(), "tokens": d.tokens, "starts": d.starts.isoformat(),
                 "ends": d.ends.isoformat(), "budget_spent": d.budget_spent}
                for d in self.schedule()
            ],
            "grade": asdict(self.grade),
            "objects_one_to_one": self.objects_one_to_one,
            "objects_mapped": self.objects_mapped,
            "objects_not_migrated": self.objects_not_migrated,
            "columns": self.columns, "columns_to_review": self.columns_to_review,
        }  # fmt: skip


def _wanted_fields(wb: Workbook) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """The custom fields setup makes: the map's (persons, organizations, deals) and the
    engine's own, each with its type and options."""
    wanted: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for (target, name), custom in wb.custom_fields().items():
        if target in {"person", "organization", "deal"}:
            wanted[(target, name)] = (custom.field_type, list(custom.options))
    for target, name, ftype, options in ENGINE_FIELDS:
        wanted.setdefault((target, name), (ftype, list(options)))
    return wanted


def _dry_setup(wb: Workbook) -> Setup:
    """What setup would resolve in an empty account, with made-up IDs: enough for the kinds
    to build every record of a dry run."""
    s = Setup(fallback_user=1)
    ids = itertools.count(1)
    for pipe in wb.pipelines:
        s.pipelines[pipe.name] = next(ids)
        for stage in pipe.stages:
            s.stages[(pipe.name, stage)] = next(ids)
    for (target, name), (ftype, options) in _wanted_fields(wb).items():
        opts = {str(o).casefold(): next(ids) for o in options}
        s.fields[(target, name)] = {"key": f"dry_{target}_{name}", "type": ftype, "options": opts}
    return s


@dataclass
class _Counts:
    """What the export holds and what the engine's kinds would write from it."""

    rows: Counter[str]  # source rows per file, rejected ones included
    live: int  # patients a full run migrates
    total: Counter[str]  # Pipedrive records per kind: the full run
    sample: Counter[str]  # …and the sample run


def _pick_sample(rows: dict[str, list[Row]], builder: Builder, size: int) -> set[str]:
    """The engine's own sample pick (:meth:`Migration.pick_sample`), reused without a project.

    A thin call: it only reads the workbook, settings and setup from its ``self``. When the
    engine offers the pick as a module-level function (rows, builder, size), call that instead.
    """
    holder = SimpleNamespace(wb=builder.wb, settings=builder.settings, setup_state=builder.setup)
    return {p or "" for p in Migration.pick_sample(cast(Migration, holder), rows, size)}


async def _dry_run(
    export: Export, rows: dict[str, list[Row]], b: Builder, chosen: set[str] | None
) -> Counter[str]:
    """Records per Pipedrive kind the declared kinds write: every patient, or ``chosen``."""
    target = InMemoryTarget()
    await run_kinds(
        KINDS, target, b, rows, Accounting(lambda *outcome: None),
        chosen=chosen, shared={"export": export},
    )  # fmt: skip
    return Counter({kind: len(records) for kind, records in target.records.items()})


def _count(
    export_path: Path, wb: Workbook, settings: Settings, bindings: BindingSource,
    sample_patients: int,
) -> _Counts:  # fmt: skip
    """Read the export as the engine does, then run its kinds dry: the full run and the sample.

    Rows are read through ``bindings``, so values are found by role whatever the headers say.
    """
    source_rows: Counter[str] = Counter()
    rows: dict[str, list[Row]] = {}
    with open_export(export_path, bindings) as export:
        for file in export.csv_files():
            kept: list[Row] = []
            for item in export.read(file):
                source_rows[file] += 1
                if isinstance(item, Row):  # a row rejected on reading is never written
                    kept.append(item)
            rows[file] = kept
        setup = _dry_setup(wb)

        def builder() -> Builder:  # as the engine's load prepares it
            b = Builder(wb, settings, setup)
            b.reference_date = export_date(export)
            b.providers = {r.source_id or "": r for r in rows.get("providers", [])}
            b.locations = {r.source_id or "": r for r in rows.get("locations", [])}
            return b

        chosen = _pick_sample(rows, builder(), sample_patients)

        async def both() -> tuple[Counter[str], Counter[str]]:
            return (await _dry_run(export, rows, builder(), None),
                    await _dry_run(export, rows, builder(), chosen))  # fmt: skip

        total, sample = asyncio.run(both())
    return _Counts(source_rows, total["persons"], total, sample)


def _read_back(records: Counter[str]) -> list[Call]:
    return [
        Call("GET", f"{OBJECT_KINDS[kind].create_path}/{{id}}", records[kind])
        for kind in WRITTEN
        if records[kind]
    ]


def _loads(counts: _Counts, wb: Workbook, sample_patients: int) -> list[ObjectLoad]:
    total, sample = counts.total, counts.sample
    fields: Counter[str] = Counter(target for target, _name in _wanted_fields(wb))
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
                   "the rollback snapshot with the first setup's pipelines, stages, own user "
                   "and activity types (an empty account: one page per list), then the field "
                   f"lists and users on each of {n} passes (setup, sample, full run, verify): "
                   "the rest is read from the state",
                   [*(Call("GET", f"/v2/{k}", 1) for k in WRITTEN if k not in V1_KINDS),
                    *(Call("GET", f"/v1/{k}", 1) for k in sorted(V1_KINDS)),
                    *(Call("GET", f"/v2/{t}Fields", n) for t in targets),
                    Call("GET", "/v2/pipelines", 1), Call("GET", "/v2/stages", 1),
                    Call("GET", "/v1/users", n), Call("GET", "/v1/users/me", 1),
                    Call("GET", "/v1/activityTypes", 1)]),
        *(ObjectLoad(kind, why[kind],
                     [Call("POST", OBJECT_KINDS[kind].create_path, total[kind])])
          for kind in WRITTEN),
        ObjectLoad("sample read-back",
                   f"what the sample of {min(sample_patients, counts.live)} patients (the hard "
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
    auth: str = "api_token",
    start: datetime | None = None,
) -> Estimate:
    """Estimate an export's migration into an account of ``plan`` with ``seats`` seats.

    The flow priced is the README's: setup, a sample of ``sample_patients`` patients and its
    diff, the full run and its verify. ``workbook`` is the project's map (confirmed or
    proposed; default: the proposal for this export): it decides the custom fields, pipelines
    and grade, and which header plays which role unless ``bindings`` are given. The plan is
    any current or legacy name, any case; ``auth`` is ``api_token`` or ``oauth`` (4× the
    burst). The daily budget adds ``settings.topup_tokens``; its days are calendar days in
    ``settings.account_zone()`` counted from ``start`` (default: now).
    """
    plan = check_plan(plan)
    auth = check_auth(auth)
    if seats < 1:
        raise ValueError(f"seats must be at least 1, not {seats}")
    if sample_patients < 1:
        raise ValueError(f"the sample needs at least 1 patient, not {sample_patients}")
    settings = settings or Settings()
    wb = workbook if workbook is not None else propose_map(export, settings)
    bindings = bindings if bindings is not None else Bindings.from_workbook(wb)
    counts = _count(export, wb, settings, bindings, sample_patients)
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
        grade=Grade("?", "", 0),
        daily_budget=daily_budget(plan, seats, settings.topup_tokens),
        burst_per_2s=burst_limit(plan, auth), auth=auth, topup_tokens=settings.topup_tokens,
        timezone=settings.account_zone(), starts_at=start or plans.utc_now(),
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
