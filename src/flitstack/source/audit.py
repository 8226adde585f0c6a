"""The schema audit: a streaming pass over an export that profiles every file and column and
finds the referential damage a migration must know about before anything moves.

Profiles are keyed by the export's own headers (the proposal and the schema inventory speak of
them). The damage checks read values by what they mean, so they see rows keyed by role, read
through the map's bindings (given, or proposed from each file's own profiles). A file whose
headers the bindings read as the MDC format's own names is read once; any other known file is
read a second time, through its bindings, for the checks.

Memory stays flat in the size of the export: column statistics are gathered a bounded batch of
rows at a time (distinct values exactly up to a cap, then a HyperLogLog estimate), and the
patient-scale state of the damage checks lives in a temporary SQLite file
(:mod:`flitstack.source.damage`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, Field, PrivateAttr

from flitstack.mapping.roles import header_key
from flitstack.settings import Settings
from flitstack.source.cardinality import DistinctCounter
from flitstack.source.damage import Damage, DamageTracker
from flitstack.source.profile import ColumnProfile
from flitstack.source.reader import (
    BindingSource,
    Export,
    Reject,
    RowBatch,
    _header_map,
    delimiter_name,
)
from flitstack.source.schema import FILES, FileSpec, spec_for
from flitstack.source.values import (
    forget_parsed,
    parse_date,
    parse_datetime,
    parse_money,
    slash_order,
)

if TYPE_CHECKING:
    from flitstack.mapping.workbook import ColumnMap

__all__ = [
    "AuditReport", "ColumnProfile", "Damage", "FileAudit", "RejectInfo", "audit_export",
    "profile_file",
]  # fmt: skip

CARDINALITY_CAP = 5_000  # distinct values counted exactly per column; estimated beyond
TYPE_SAMPLE = 500  # non-null values per column used to vote on the type
#: value types whose distinct values are counted up to the cap and no further (then shown as
#: "5000+"): neither an identifier (the proposal's uniqueness test) nor a list of choices is
#: made of dates, times, amounts or long texts, so an estimate past the cap would decide nothing
COUNTED_TO_CAP = frozenset({"date", "datetime", "money", "decimal", "long_text"})
EXAMPLES = 3
TOP_VALUES = 12

#: files read first so every reference can be resolved in one pass
READ_ORDER = (
    "locations",
    "providers",
    "insurance_carriers",
    "custom_property_definitions",
    "patients",
    "treatment_plans",
)

Suggest = Callable[[ColumnProfile], tuple[str, str]]


class FileAudit(BaseModel):
    file: str
    known: bool
    rows_read: int = 0
    rows_yielded: int = 0
    rows_rejected: int = 0
    encoding: str = ""
    #: the field separator as shown ("," the format's; ";", "tab" or "|" as a spreadsheet saved it)
    delimiter: str = ","
    #: lines above the header, not rows (a report's title, blank lines), as written
    preamble: list[str] = Field(default_factory=list)
    columns: list[ColumnProfile] = Field(default_factory=list)
    missing_columns: list[str] = Field(default_factory=list)
    unknown_columns: list[str] = Field(default_factory=list)


class RejectInfo(BaseModel):
    file: str
    line: int
    column: str | None
    reason: str


class AuditReport(BaseModel):
    export: str
    manifest: dict[str, Any]
    settings_used: dict[str, Any]
    files: list[FileAudit]
    missing_files: list[str]
    unknown_files: list[str]
    other_files: list[str]
    damage: Damage
    rejects: list[RejectInfo]
    rejects_total: int = 0
    #: CSV files named as parts of the format's files (``appointments_2023.csv``): the format's
    #: file → their names; the run refuses them (their rows would be left out)
    parts: dict[str, list[str]] = Field(default_factory=dict)
    #: whether slash dates were read day first (the map's ``date_order``), else month first
    dates_read_day_first: bool = False
    #: not part of the report's JSON: what the damage checks read through, and the proposal
    _bindings: Any = PrivateAttr(default=None)
    _proposal: Any = PrivateAttr(default=None)

    @property
    def bindings(self) -> BindingSource | None:
        """The bindings the damage checks read through: the ones given, or the proposal's."""
        return cast("BindingSource | None", self._bindings)

    @property
    def proposal(self) -> dict[str, list[ColumnMap]] | None:
        """Each file's proposed column maps, when the audit proposed its own bindings (the map
        proposal reuses them instead of proposing again); None when bindings were given."""
        return cast("dict[str, list[ColumnMap]] | None", self._proposal)

    @property
    def profiles(self) -> list[ColumnProfile]:
        return [c for f in self.files for c in f.columns]

    def date_orders(self) -> dict[str, dict[str, int]]:
        """Per order ("day-first", "month-first"), the columns whose slash dates, as read, can
        only be read that way: ``file.column`` → how many of the values sampled for its type."""
        out: dict[str, dict[str, int]] = {}
        for c in self.profiles:
            for order, n in sorted(c.date_orders.items()):
                out.setdefault(order, {})[f"{c.file}.{c.column}"] = n
        return out

    @property
    def date_order(self) -> str:
        """How the export writes slash dates, as its own dates show: the other way from how
        they were read when some dates can only be read that other way and none only the way
        they were read (``25/03/2024`` read month first: day first); else as they were read."""
        found = self.date_orders()
        contrary = "day-first" in found and "month-first" not in found
        day_first = self.dates_read_day_first != contrary
        return "day-first" if day_first else "month-first"

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    def problem_totals(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for profile in self.profiles:
            totals.update(profile.problems)
        return totals


# --- type inference --------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[+(]?[\d][\d\s().\-]{6,}\d(\s*(x|ext\.?)\s*\d+)?$", re.IGNORECASE)
_INT = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?\d*\.\d+$")
_WHOLE = re.compile(r"^[+-]?\d+\.0+$")
_MONEY = re.compile(r"^\(?-?\$?\s?[\d,]+(\.\d{1,2})?\)?$")
_CDT = re.compile(r"^D\d{4}$", re.IGNORECASE)
_CDT_LIST = re.compile(r"^D\d{4}(;\s*D\d{4})+$", re.IGNORECASE)
_BOOL = frozenset({"y", "n", "yes", "no", "true", "false"})
_URL = re.compile(r"^https?://", re.IGNORECASE)


@lru_cache(maxsize=1024)  # the same texts (days, small numbers, codes) recur across columns
def classify(text: str) -> str:
    """The most specific type a single non-null value looks like.

    Each pattern is tried only when a cheap test of the text allows it to match (its first
    character, a character it must hold): most values are decided without a regex.
    """
    t = text.strip()
    if len(t) <= 5 and t.casefold() in _BOOL:  # case folding never shortens text
        return "boolean"
    first = t[:1]
    if first in ("D", "d"):
        if _CDT.match(t):
            return "cdt"
        if _CDT_LIST.match(t):
            return "cdt_list"
    if "@" in t and _EMAIL.match(t):
        return "email"
    if "://" in t and _URL.match(t):
        return "url"
    digit = first.isdecimal()  # what \d matches
    if digit or first in "+-.":
        if _INT.match(t) or _WHOLE.match(t):  # 1001.0: a whole number a spreadsheet saved
            return "int"
        if _DECIMAL.match(t):
            return "decimal"
    if ("$" in t or t.startswith("(")) and _MONEY.match(t) and parse_money(t).problem is None:
        return "money"
    # a date is read from an ISO date (a '-') or a US one (a '/'): without either none is
    if len(t) >= 6 and (t[0].isdigit() or t[0] == "(") and ("-" in t or "/" in t):
        dt = parse_datetime(t)
        if dt.problem is None and dt.value is not None:
            has_time = ":" in t
            return "datetime" if has_time else "date"
        day = parse_date(t)
        if day.problem is None and day.value is not None:
            return "date"
        if slash_order(t) == "day-first":  # 25/03/2024: a date, written day first
            return "datetime" if ":" in t else "date"
    if first.isalpha() and 8 <= len(t) <= 40 and any(map(str.isdigit, t[-4:])):
        when = parse_datetime(t)  # Jan 1, 2023 (10:15 AM): a month written as a name
        if when.problem is None and when.value is not None:
            return "datetime" if ":" in t else "date"
    if (digit or first in "+(") and _PHONE.match(t):
        return "phone"
    if "\n" in t or len(t) > 120:
        return "long_text"
    return "text"


class _ColumnStats:
    """Aggregates of one column, fed a batch of cells at a time."""

    __slots__ = (
        "distinct", "examples", "max_len", "nulls", "orders", "problems", "voted", "votes",
    )  # fmt: skip

    def __init__(self) -> None:
        self.distinct = DistinctCounter(CARDINALITY_CAP, TOP_VALUES)
        self.nulls = 0
        self.max_len = 0
        self.votes: Counter[str] = Counter()
        self.voted = 0
        self.examples: list[str] = []
        self.problems: Counter[str] = Counter()
        #: slash dates of the type sample that read only day first or only month first
        self.orders: Counter[str] = Counter()

    @property
    def capped(self) -> bool:
        return self.distinct.capped

    def add(self, texts: list[str | None], longest: int) -> None:
        """Take in one column's cells for many rows: each stripped, None for a null (the
        reader's :attr:`RowBatch.texts`); ``longest``: the length of the column's longest
        text so far (:attr:`RowBatch.longest`, measured by the reader once per new text)."""
        if self.distinct.stopped:  # typed and counted to the cap: only nulls and length left
            nulls = 0 if all(texts) else texts.count(None)  # a stripped text is never empty
            self.nulls += nulls
            if nulls < len(texts) and longest > self.max_len:  # as below: some text present
                self.max_len = longest
            return
        # a stripped text is never empty: no null, all present (one C pass cheaper than a filter)
        present = cast("list[str]", texts) if all(texts) else list(filter(None, texts))
        self.nulls += len(texts) - len(present)
        if not present:
            return
        if longest > self.max_len:
            self.max_len = longest
        if self.voted < TYPE_SAMPLE:
            sample = present[: TYPE_SAMPLE - self.voted]
            self.voted += len(sample)
            votes = self.votes
            for text, times in Counter(sample).items():  # each distinct text classified once
                votes[classify(text)] += times
                order = slash_order(text) if "/" in text else None
                if order is not None:
                    self.orders[order] += times
            for text in sample:
                if len(self.examples) >= EXAMPLES:
                    break
                if text not in self.examples:
                    self.examples.append(text)
            if self.voted >= TYPE_SAMPLE:
                (kind, times), *_ = votes.most_common(1)
                # most of the column one such type: how many values it has past the cap
                # decides nothing (no identifier is made of them, nor a list of choices)
                self.distinct.estimate = not (kind in COUNTED_TO_CAP and 2 * times > self.voted)
        self.distinct.update(present, longest)


class _FileStats:
    """Column statistics of one file, taken in a batch of rows (column by column) at a time."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = {name: _ColumnStats() for name in columns}
        self._order = list(self.columns.values())

    def add(self, batch: RowBatch) -> None:
        kept = batch.kept()
        for stats, texts, longest in zip(self._order, batch.texts, batch.longest, strict=True):
            stats.add(texts if kept is None else [texts[i] for i in kept], longest)
        if batch.problems:
            rejected = batch.rejected
            for position in sorted(batch.problems):  # file order, as the rows have them
                if position not in rejected:
                    for problem in batch.problems[position]:
                        self.columns[problem.column].problems[problem.kind] += 1


def mask(text: str) -> str:
    """Mask a personal value for reports: keep shape and first letters, hide the rest."""
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    out = []
    for word in text.split():
        out.append(word[:1] + "*" * min(len(word) - 1, 4) if word[:1].isalpha() else "#" * 3)
    return " ".join(out) or "***"


def _inferred(stats: _ColumnStats, rows: int) -> tuple[str, dict[str, float]]:
    if not stats.voted:
        return "empty", {}
    votes = {k: round(v / stats.voted, 3) for k, v in stats.votes.most_common()}
    best, share = next(iter(votes.items()))
    merged = dict(votes)
    non_null = rows - stats.nulls
    cardinality = stats.distinct.value()
    if best in ("int", "decimal") and votes.get("money", 0) > 0.05:
        best = "money"
    if best == "int":
        # every value distinct: exactly, or (past the cap) within the estimate's error
        unique = cardinality == non_null if not stats.capped else cardinality >= 0.96 * non_null
        if unique and non_null > 20:
            best = "id"
    if (
        best == "text"
        and share > 0.5
        and not stats.capped
        and cardinality <= 12
        and non_null >= 3 * cardinality
    ):
        best = "enum"
    return best, merged


_PERSONAL_HINTS = (
    "name",
    "email",
    "e-mail",
    "phone",
    "cell",
    "address",
    "dob",
    "birth",
    "ssn",
    "note",
    "subscriber",
    "zip",
    "mobile",
)


def _profile(
    file: str, position: int, column: str, stats: _ColumnStats, rows: int, unmask: bool
) -> ColumnProfile:
    spec = spec_for(file)
    known_col = spec.column(column) if spec else None
    personal = (
        known_col.personal if known_col else any(h in column.casefold() for h in _PERSONAL_HINTS)
    )
    inferred, votes = _inferred(stats, rows)
    show = (lambda s: s) if unmask or not personal else mask
    top: list[tuple[str, int]] = []
    counts = stats.distinct.counts
    if counts is not None and len(counts) <= TOP_VALUES:
        top = [(show(v), n) for v, n in counts.most_common(TOP_VALUES)]
    return ColumnProfile(
        file=file,
        column=column,
        position=position,
        known=known_col is not None,
        kind=known_col.kind.value if known_col else None,
        personal=personal,
        inferred_type=inferred,
        rows=rows,
        nulls=stats.nulls,
        null_rate=round(stats.nulls / rows, 4) if rows else 0.0,
        cardinality=stats.distinct.value(),
        cardinality_capped=stats.capped,
        cardinality_how=stats.distinct.how,
        max_length=stats.max_len,
        type_votes=votes,
        top_values=top,
        examples=[show(e) for e in stats.examples],
        problems=dict(stats.problems),
        date_orders=dict(stats.orders),
    )


class _Rejects:
    """Rejected rows: all counted, the first ``keep`` listed."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.total = 0
        self.listed: list[RejectInfo] = []

    def add(self, name: str, row: Reject) -> None:
        self.total += 1
        if len(self.listed) < self.keep:
            self.listed.append(
                RejectInfo(file=name, line=row.line, column=row.column, reason=row.reason)
            )


def _profile_pass(
    export: Export,
    name: str,
    unmask: bool,
    on_row: Callable[[str], None] | None,
    see: Callable[[RowBatch], None] | None,
    rejects: _Rejects | None,
) -> FileAudit:
    """Read one file as its headers say (the export's bindings must be off): profile every
    column, count and list the rejects, and hand each row to ``see`` when given."""
    stats: _FileStats | None = None
    for batch in export.read_batches(name):
        if on_row is not None:
            for _ in range(batch.records):
                on_row(name)
        if rejects is not None and (batch.before or batch.rejected):
            for reject in batch.rejects():
                rejects.add(name, reject)
        if len(batch.starts) == len(batch.rejected):
            continue  # no row in the batch
        if stats is None:
            stats = _FileStats(batch.names)
        stats.add(batch)
        if see is not None:
            see(batch)
    if stats is not None:
        columns = stats.columns
    else:
        columns = {h.strip(): _ColumnStats() for h in export.columns(name)}
    read = export.stats[name]
    profiles = [
        _profile(name, i, c, columns[c], read.rows_yielded, unmask) for i, c in enumerate(columns)
    ]
    # a profile is named by the header as the file spells it ("Item Id"), though the reader
    # knew it as the format's column (ItemID) whatever its case and spacing
    for profile, header in zip(profiles, export.columns(name), strict=False):
        spelled = header.replace("\ufeff", "").strip()
        if spelled and header_key(spelled) == header_key(profile.column):
            profile.column = spelled
    return FileAudit(
        file=name,
        known=spec_for(name) is not None,
        rows_read=read.rows_read,
        rows_yielded=read.rows_yielded,
        rows_rejected=read.rows_rejected,
        encoding=read.encoding,
        delimiter=delimiter_name(read.delimiter),
        preamble=read.preamble,
        columns=profiles,
    )


def profile_file(export: Export, name: str, unmask: bool = False) -> list[ColumnProfile]:
    """The column profiles of one file, keyed by its own headers (no damage checks): what the
    proposal of that file's map needs, for a step that reads only a few files."""
    own, export.bindings = export.bindings, None
    try:
        return _profile_pass(export, name, unmask, None, None, None).columns
    finally:
        export.bindings = own


def _read_as_named(spec: FileSpec, plain: list[str]) -> bool:
    """Whether the proposal is sure to bind every header of a file to the name the reader gives
    it without a map: each header is a column of the format (placed by its own rule), or every
    column of the format is present (nothing is left for an extra header to be placed on)."""
    names = set(spec.column_names)
    return all(n in names for n in plain) or names <= set(plain)


def _audit_file(
    export: Export,
    name: str,
    damage: DamageTracker,
    given: BindingSource | None,
    used: BindingSource | None,
    proposal: dict[str, list[ColumnMap]] | None,
    unmask: bool,
    on_row: Callable[[str], None] | None,
    rejects: _Rejects,
) -> FileAudit:
    """Profile one file and run its damage checks (``used`` gains the file's proposed binding
    when no bindings were given)."""
    spec = spec_for(name)
    checks = damage.file(name)
    header = export.columns(name)
    plain = _header_map(name, header, spec)
    if spec is None:
        together = True  # no checks, no roles
    elif given is not None:
        given_binding = given.for_file(name)
        together = given_binding is None or _header_map(name, header, spec, given_binding) == plain
    else:
        together = _read_as_named(spec, plain)
    export.bindings = None
    file_audit = _profile_pass(
        export, name, unmask, on_row, checks.see_batch if together else None,
        rejects if together else None,
    )  # fmt: skip
    if proposal is not None:
        from flitstack.mapping.propose import propose_file
        from flitstack.mapping.roles import Bindings

        assert isinstance(used, Bindings)
        proposal[name] = propose_file(name, file_audit.columns)
        used.files.update(Bindings.from_columns(proposal[name]).files)
    binding = used.for_file(name) if used is not None and spec is not None else None
    bound = _header_map(name, header, spec, binding) if binding is not None else plain
    if not together:
        # read again through the bindings: the checks, the row counts and the rejects are
        # those of the rows as the migration reads them
        profiled = export.stats[name]
        export.bindings = used
        file_audit.rows_yielded = file_audit.rows_rejected = 0
        for batch in export.read_batches(name):
            refused = batch.rejects()
            for reject in refused:
                rejects.add(name, reject)
            file_audit.rows_rejected += len(refused)
            file_audit.rows_yielded += len(batch.starts) - len(batch.rejected)
            checks.see_batch(batch)
        export.bindings = None
        export.stats[name] = profiled
    checks.close()
    names = [c.column for c in file_audit.columns]
    if spec is None:
        file_audit.unknown_columns = names
    else:
        file_audit.missing_columns = [c for c in spec.column_names if c not in bound]
        file_audit.unknown_columns = [
            n for n, b in zip(names, bound, strict=True) if spec.column(b) is None
        ]
    return file_audit


def audit_export(
    export: Export,
    settings: Settings | None = None,
    *,
    unmask: bool = False,
    on_row: Callable[[str], None] | None = None,
    max_rejects: int = 1000,
    scratch_dir: Path | None = None,
    bindings: BindingSource | None = None,
    overrides: dict[str, str] | None = None,
) -> AuditReport:
    """Profile every file and column of an export and count its damage, streaming.

    ``bindings`` (from the map; default: the export's own, else the proposal of each file's
    profiles) say which header plays which role for the damage checks, the counts of rows and
    rejects, and the missing and unknown columns; the profiles keep the export's headers. A
    known file the bindings read differently from its headers is read twice: once to profile
    it, once through its bindings for the checks. The bindings used are ``report.bindings``.

    ``scratch_dir`` is where the temporary SQLite file of the damage checks goes (default: the
    system's temporary folder); it is owner-only and removed before this returns.
    """
    from flitstack.mapping.practice import practice_settings

    # the export's declared time zone, currency and tooth numbering fill what the project
    # leaves unset; a project that says otherwise is refused here, before any value is judged
    # (``overrides``: the workbook's record that the project's value is meant)
    settings = practice_settings(
        export.manifest, settings or Settings(), overrides, f"{export.path}/export.json",
        require_timezone=False,
    )  # fmt: skip
    given = bindings if bindings is not None else export.bindings
    if bindings is not None:  # the map's date order with its headers
        export.day_first = bool(getattr(bindings, "day_first", export.day_first))
    proposal: dict[str, list[ColumnMap]] | None = None
    used = given
    if given is None:
        from flitstack.mapping.roles import Bindings

        proposal, used = {}, Bindings()
    present = export.csv_files()
    order = [f for f in READ_ORDER if f in present] + [f for f in present if f not in READ_ORDER]
    files: list[FileAudit] = []
    rejects = _Rejects(max_rejects)
    own = export.bindings
    try:
        with DamageTracker(export, scratch_dir) as damage:
            for name in order:
                files.append(
                    _audit_file(
                        export, name, damage, given, used, proposal, unmask, on_row, rejects
                    )
                )
            forget_parsed()  # every row read: the parse caches are not kept through the checks
            classify.cache_clear()
            found = damage.finish()
    finally:
        export.bindings = own
    report = AuditReport(
        export=str(export.path),
        manifest=export.manifest.model_dump(mode="json"),
        settings_used=settings.model_dump(mode="json"),
        files=files,
        missing_files=[f for f in FILES if f not in present],
        unknown_files=[f for f in present if spec_for(f) is None],
        other_files=export.other_files(),
        parts=export.parts(),
        damage=found,
        rejects=rejects.listed,
        rejects_total=rejects.total,
        dates_read_day_first=export.day_first,
    )
    report._bindings = used
    report._proposal = proposal
    return report
