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
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flitstack.engine.records import Builder
from flitstack.engine.staging import MemorySource, RowSource
from flitstack.source.reader import DocumentFile, Row

if TYPE_CHECKING:
    from flitstack.engine.objects.base import SourceKind
    from flitstack.engine.target import Target

Progress = Callable[[str, int, int], None]
#: IDs kept only while their chunk runs (a patient's records all hang on the same chunk).
CHUNK_SLOTS = ("persons", "deals")
#: a file to upload: its name, its content (bytes, or a document streamed from the export),
#: its MIME type and the records it hangs on
Upload = tuple[str, bytes | DocumentFile, str, dict[str, int]]


def file_marker(key: str) -> str:
    """How every file flitstack uploads is named first: ``documents:55`` → ``mdc[documents 55]``.

    A lost answer's upload is found again by this prefix, and by no other record's: the source
    ID is escaped so that it never holds the closing bracket (``documents:5`` never matches the
    file of ``documents:55``, as a plain substring test would).
    """
    source, _, sid = key.partition(":")
    for char, code in (("%", "%25"), ("]", "%5D"), (":", "%3A"), ("/", "%2F"), ("\\", "%5C")):
        sid = sid.replace(char, code)
    return f"mdc[{source} {sid}]"


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
    """What the kinds build from: the rows (streamed), the patients of the chunk at hand with
    their children, the builder, and the IDs made so far."""

    builder: Builder
    source: RowSource
    sample: bool
    chosen: set[str]  # patients in this run (all of them unless a sample)
    patient_ids: set[str]  # every patient ID of the export
    accounting: Accounting
    kept: list[str] = field(default_factory=list)  # patients that take part, in file order
    patients: dict[str, Row] = field(default_factory=dict)  # the chunk's patients
    ids: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    children_of: dict[str, dict[str, list[Row]]] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)  # what one kind hands another
    #: the files the run's kinds read (the rest are no file of the format)
    read: set[str] = field(default_factory=set)

    def rows(self, file: str) -> Iterator[Row]:
        """Every row of a file, streamed (for the small files read whole)."""
        return self.source.rows(file)

    def children(self, file: str) -> dict[str, list[Row]]:
        """A file's rows grouped under the chunk's patients (or, for plan items, plans)."""
        return self.children_of.get(file, {})

    def person_of(self, pid: str) -> int:
        return self.ids["persons"][pid]


class Runner:
    """Runs the declared kinds against a target: kinds that hang on no patient once, then the
    rest a chunk of patients at a time (each chunk in dependency order)."""

    def __init__(
        self,
        kinds: Iterable[SourceKind],
        target: Target,
        concurrency: int = 16,
        progress: Progress | None = None,
        chunk: int = 500,
    ) -> None:
        self.kinds = {k.name: k for k in kinds}
        self.target = target
        self.concurrency = concurrency
        self.progress = progress or (lambda step, done, total: None)
        self.chunk = chunk
        self._done: Counter[str] = Counter()
        self._total: Counter[str] = Counter()

    # --- ordering -------------------------------------------------------------------------------
    def batches(self, kinds: Iterable[SourceKind] | None = None) -> list[list[SourceKind]]:
        """The kinds in dependency order: each batch only after every kind it names."""
        chosen = {k.name: k for k in (kinds if kinds is not None else self.kinds.values())}
        sorter = graphlib.TopologicalSorter(
            {name: [a for a in k.after if a in chosen] for name, k in chosen.items()}
        )
        sorter.prepare()
        out = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            out.append([chosen[n] for n in ready])
            sorter.done(*ready)
        return out

    # --- structural accounting ------------------------------------------------------------------
    def account_unplaced(self, ctx: LoadContext) -> None:
        """Child rows that hang on no kept patient: an orphan or a row with no patient is
        rejected; a row of a patient not migrated is skipped (quietly when only left out of a
        sample). Streams each child file once."""
        kept = set(ctx.kept)
        for kind in self.kinds.values():
            file = kind.source
            if file is None or kind.parent != "patients":
                continue
            by = kind.parent_role
            for r in ctx.rows(file):
                pid = str(r.values.get(by) or "").strip()
                if pid in kept:
                    continue
                if not pid:
                    ctx.accounting.row(file, r, "rejected", "no patient reference", by)
                elif pid not in ctx.patient_ids:
                    why = f"patient {pid} does not exist (orphan)"
                    ctx.accounting.row(file, r, "rejected", why, by)
                elif ctx.sample and pid not in ctx.chosen:
                    ctx.accounting.row(file, r, "skipped", quiet=True)
                else:
                    why = "patient not migrated (Deleted or not in the sample)"
                    ctx.accounting.row(file, r, "skipped", why, by)

    def fetch_chunk(self, ctx: LoadContext, pids: list[str]) -> None:
        """The chunk's patients and every child row of theirs (plan items under their plans)."""
        ctx.patients = {p: rows[0] for p, rows in ctx.source.children("patients", pids).items()}
        ctx.children_of = {}
        for kind in self.kinds.values():
            file = kind.source
            if file is None or file in ctx.children_of or kind.parent != "patients":
                continue
            ctx.children_of[file] = ctx.source.children(file, pids)
        plans = [r.source_id or "" for rows in ctx.children("treatment_plans").values()
                 for r in rows]  # fmt: skip
        for kind in self.kinds.values():
            if kind.source is not None and kind.parent == "treatment_plans":
                ctx.children_of[kind.source] = ctx.source.children(kind.source, plans)

    # --- running --------------------------------------------------------------------------------
    async def run(self, ctx: LoadContext) -> None:
        for kind in self.kinds.values():
            kind.select(ctx)
        self.account_unplaced(ctx)
        once = [k for k in self.kinds.values() if k.parent is None and k.name != "patients"]
        per_chunk = [k for k in self.kinds.values() if k not in once]
        ctx.children_of = {}
        for batch in self.batches(once):
            await self._run_batch(ctx, batch)
        for start in range(0, len(ctx.kept), self.chunk):
            self.fetch_chunk(ctx, ctx.kept[start : start + self.chunk])
            for batch in self.batches(per_chunk):
                await self._run_batch(ctx, batch)
            for slot in CHUNK_SLOTS:  # a chunk's persons and deals are not needed after it
                ctx.ids[slot].clear()
            ctx.patients, ctx.children_of = {}, {}
            release_memory()
        ctx.patients, ctx.children_of = {}, {}
        for kind in self.kinds.values():
            kind.finish(ctx)

    async def _run_batch(self, ctx: LoadContext, batch: list[SourceKind]) -> None:
        writes: list[Write] = []
        for kind in batch:
            withheld = ctx.builder.withheld_kinds.get(kind.name)
            if withheld is not None and kind.source is not None:  # never sent: each row says why
                for rows in ctx.children(kind.source).values():
                    for r in rows:
                        ctx.accounting.row(kind.source, r, "skipped", withheld)
                continue
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
        """Run one batch's writes under the concurrency gate; progress counts across chunks."""
        gate = asyncio.Semaphore(self.concurrency)
        self._total[step] += len(jobs)

        async def run(job: Callable[[], Awaitable[None]]) -> None:
            async with gate:
                await job()
            self._done[step] += 1
            self.progress(step, self._done[step], self._total[step])

        self.progress(step, self._done[step], self._total[step])
        await asyncio.gather(*(run(j) for j in jobs))


def release_memory() -> None:
    """Hand the memory a finished chunk freed back to the system (glibc keeps freed blocks of a
    long run otherwise, and the process grows with the number of chunks, not their size)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return
    trim(0)


async def run_kinds(
    kinds: Iterable[SourceKind],
    target: Target,
    builder: Builder,
    source: RowSource | dict[str, list[Row]],
    accounting: Accounting,
    *,
    chosen: set[str] | None = None,
    shared: dict[str, Any] | None = None,
    concurrency: int = 16,
    progress: Progress | None = None,
    chunk: int = 500,
) -> LoadContext:
    """Load the rows (staged, or a dict by file) through the kinds into ``target``: every
    patient, or only ``chosen`` ones (a sample). Returns the context: IDs made, outcomes."""
    rows = MemorySource(source) if isinstance(source, dict) else source
    kinds = list(kinds)
    everyone = {p.source_id or "" for p in rows.rows("patients")}
    ctx = LoadContext(
        builder=builder,
        source=rows,
        sample=chosen is not None,
        chosen=everyone if chosen is None else chosen,
        patient_ids=everyone,
        accounting=accounting,
        shared=dict(shared or {}),
        read={kind.source for kind in kinds if kind.source},
    )
    await Runner(kinds, target, concurrency, progress, chunk).run(ctx)
    return ctx
