"""The generic load: object kinds declared in ``engine/objects``, run in dependency order.

Each source object kind is one small declaration (see ``objects/base.py``): which export file it
reads, which file its rows hang under, what Pipedrive object it makes, what it must come after,
how a record is built and how its rows count. This runner does everything else, once for all
kinds:

- orders the kinds with :mod:`graphlib` (their ``after``), and runs every kind that is ready at
  the same time, its writes under one bounded concurrency gate, with progress;
- groups child rows under the patients kept (deleted patients and, in a sample, the patients not
  chosen are left out) and accounts every row that cannot hang anywhere: an orphan is rejected,
  a row of a patient not migrated is skipped, with its reason;
- records every row's outcome in one place (:class:`Accounting`), so "every source row is
  accounted for" is a property of the run, not of hand-placed counters;
- hands each write to a :class:`~flitstack.engine.target.Target`, which keeps the write-once
  protocol (intent → create → record; a lost answer looked up before any retry).
"""

from __future__ import annotations

import asyncio
import graphlib
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flitstack.engine.records import Builder, group_by
from flitstack.source.reader import Row

if TYPE_CHECKING:
    from flitstack.engine.objects.base import SourceKind
    from flitstack.engine.target import Target

Progress = Callable[[str, int, int], None]
Upload = tuple[str, bytes, str, dict[str, int]]


@dataclass
class Write:
    """One record to create (or find again): built when it runs, so it can use the IDs of the
    records created before it."""

    kind: str  # Pipedrive object kind: organizations, persons, activities, deals, notes, files
    key: str  # ``<file>:<source id>``: the record's identity for exactly-once
    build: Callable[[], dict[str, Any]]
    row: Row | None = None
    person: str | None = None  # the patient whose person the record hangs on
    upload: Callable[[], Upload] | None = None
    keep_as: tuple[str, str] | None = None  # where the new ID is kept: (slot, name)
    match: str | None = None  # "person" (by e-mail) or "organization" (by name) per policy
    name: str = ""  # the organization's name, for matching


@dataclass
class Accounting:
    """Every source row's outcome, recorded once; the load summary is derived from it."""

    note: Callable[[str, str, int, str, str, str], None]  # file, sid, line, field, outcome, why
    source_rows: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def row(
        self, file: str, row: Row | None, outcome: str, reason: str = "", column: str = "",
        *, quiet: bool = False, count: int = 1,
    ) -> None:  # fmt: skip
        """``outcome``: migrated, merged, skipped or rejected. A skip or reject is noted with
        its reason unless ``quiet`` (rows left out of a sample are not reported one by one)."""
        self.outcomes[outcome][file] += count
        if outcome in {"skipped", "rejected"} and not quiet and row is not None:
            self.note(file, row.source_id or "", row.line, column, outcome, reason)


@dataclass
class LoadContext:
    """What the kinds build from: rows grouped under kept patients, the builder, the IDs made."""

    builder: Builder
    rows: dict[str, list[Row]]
    sample: bool
    chosen: set[str]  # patients in this run (all of them unless a sample)
    patients: dict[str, Row]  # patients kept: chosen and not skipped
    patient_ids: set[str]  # every patient ID of the export
    accounting: Accounting
    ids: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    children_of: dict[str, dict[str, list[Row]]] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)  # what one kind hands another

    def children(self, file: str) -> dict[str, list[Row]]:
        """A file's rows grouped under the kept patients (see :meth:`Runner.group`)."""
        return self.children_of.get(file, {})

    def person_of(self, pid: str) -> int:
        return self.ids["persons"][pid]


class Runner:
    """Runs the declared kinds against a target."""

    def __init__(
        self,
        kinds: Iterable[SourceKind],
        target: Target,
        concurrency: int = 16,
        progress: Progress | None = None,
    ) -> None:
        self.kinds = {k.name: k for k in kinds}
        self.target = target
        self.concurrency = concurrency
        self.progress = progress or (lambda step, done, total: None)

    # --- ordering -------------------------------------------------------------------------------
    def batches(self) -> list[list[SourceKind]]:
        """The kinds in dependency order: each batch only after every kind it names."""
        sorter = graphlib.TopologicalSorter(
            {name: [a for a in k.after if a in self.kinds] for name, k in self.kinds.items()}
        )
        sorter.prepare()
        out = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            out.append([self.kinds[n] for n in ready])
            sorter.done(*ready)
        return out

    # --- grouping and structural accounting -----------------------------------------------------
    def group(self, ctx: LoadContext) -> None:
        """Hang every child file's rows under the kept patients; account the rest."""
        for kind in self.kinds.values():
            file = kind.source
            if file is None or kind.parent != "patients" or file in ctx.children_of:
                continue
            role = kind.parent_role
            grouped = group_by(ctx.rows.get(file, []), role)
            kept: dict[str, list[Row]] = {}
            for pid, items in grouped.items():
                if pid in ctx.patients:
                    kept[pid] = items
                elif pid not in ctx.patient_ids:
                    for r in items:
                        why = f"patient {pid} does not exist (orphan)"
                        ctx.accounting.row(file, r, "rejected", why, role)
                elif ctx.sample and pid not in ctx.chosen:
                    ctx.accounting.row(file, None, "skipped", quiet=True, count=len(items))
                else:
                    why = "patient not migrated (Deleted or not in the sample)"
                    for r in items:
                        ctx.accounting.row(file, r, "skipped", why, role)
            for r in ctx.rows.get(file, []):
                if not str(r.raw.get(role) or "").strip():
                    ctx.accounting.row(file, r, "rejected", "no patient reference", role)
            ctx.children_of[file] = kept

    # --- running --------------------------------------------------------------------------------
    async def run(self, ctx: LoadContext) -> None:
        self.group(ctx)
        for batch in self.batches():
            writes: list[Write] = []
            for kind in batch:
                writes.extend(kind.writes(ctx))
            if writes:
                label = " + ".join(dict.fromkeys(w.kind for w in writes))
                await self._gather(label, [self._job(ctx, w) for w in writes])
            for kind in batch:
                kind.after_writes(ctx)

    def _job(self, ctx: LoadContext, w: Write) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            pd_id = await self.target.write(w, ctx)
            if w.keep_as is not None:
                ctx.ids[w.keep_as[0]][w.keep_as[1]] = pd_id

        return job

    async def _gather(self, step: str, jobs: list[Callable[[], Awaitable[None]]]) -> None:
        gate = asyncio.Semaphore(self.concurrency)
        done = 0

        async def run(job: Callable[[], Awaitable[None]]) -> None:
            nonlocal done
            async with gate:
                await job()
            done += 1
            self.progress(step, done, len(jobs))

        self.progress(step, 0, len(jobs))
        await asyncio.gather(*(run(j) for j in jobs))


async def run_kinds(
    kinds: Iterable[SourceKind],
    target: Target,
    builder: Builder,
    rows: dict[str, list[Row]],
    accounting: Accounting,
    *,
    chosen: set[str] | None = None,
    shared: dict[str, Any] | None = None,
    concurrency: int = 16,
    progress: Progress | None = None,
) -> LoadContext:
    """Load ``rows`` (by file) through the kinds into ``target``: every patient, or only
    ``chosen`` ones (a sample). Returns the context: the IDs made and every row's outcome."""
    patients = rows.get("patients", [])
    everyone = {p.source_id or "" for p in patients}
    ctx = LoadContext(
        builder=builder,
        rows=rows,
        sample=chosen is not None,
        chosen=everyone if chosen is None else chosen,
        patients={},
        patient_ids=everyone,
        accounting=accounting,
        shared=dict(shared or {}),
    )
    runner = Runner(kinds, target, concurrency, progress)
    for kind in runner.kinds.values():
        kind.select(ctx)
    await runner.run(ctx)
    return ctx
