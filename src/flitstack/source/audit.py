"""The schema audit: one streaming pass over an export that profiles every file and column and
finds the referential damage a migration must know about before anything moves.

Memory stays flat in the size of the export except for the ID sets needed to resolve
references (one string per referenced row), and distinct-value counting is capped per column.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from flitstack.settings import Settings
from flitstack.source.mess import MessKind
from flitstack.source.profile import ColumnProfile
from flitstack.source.reader import Export, Reject, Row
from flitstack.source.schema import FILES, Kind, spec_for
from flitstack.source.values import is_null, parse_date, parse_datetime, parse_money

CARDINALITY_CAP = 5_000
TYPE_SAMPLE = 500  # non-null values per column used to vote on the type
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
    columns: list[ColumnProfile] = Field(default_factory=list)
    missing_columns: list[str] = Field(default_factory=list)
    unknown_columns: list[str] = Field(default_factory=list)


class RejectInfo(BaseModel):
    file: str
    line: int
    column: str | None
    reason: str


class Damage(BaseModel):
    """Referential damage and gaps, counted exactly; examples give file and line (no values)."""

    orphan_references: dict[str, int] = Field(default_factory=dict)  # "file.Column" → count
    duplicate_patients: int = 0
    duplicate_examples: list[str] = Field(default_factory=list)
    patients_without_email: int = 0
    invalid_emails: int = 0
    junk_phones: int = 0
    providers_without_email: int = 0
    providers_without_email_ids: list[str] = Field(default_factory=list)
    missing_document_files: int = 0
    deleted_patients_with_appointments: int = 0
    guarantors_in_other_families: int = 0

    def as_mess_counts(self) -> dict[str, int]:
        """Counts keyed like the generator's injection record, for exact comparison."""
        return {
            MessKind.INVALID_EMAIL: self.invalid_emails,
            MessKind.JUNK_PHONE: self.junk_phones,
            MessKind.DUPLICATE_PATIENT: self.duplicate_patients,
            MessKind.PROVIDER_WITHOUT_EMAIL: self.providers_without_email,
            MessKind.MISSING_DOCUMENT_FILE: self.missing_document_files,
            MessKind.DELETED_PATIENT_WITH_APPOINTMENTS: self.deleted_patients_with_appointments,
            MessKind.GUARANTOR_OTHER_FAMILY: self.guarantors_in_other_families,
            "patients_without_email": self.patients_without_email,
        }


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

    @property
    def profiles(self) -> list[ColumnProfile]:
        return [c for f in self.files for c in f.columns]

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
_MONEY = re.compile(r"^\(?-?\$?\s?[\d,]+(\.\d{1,2})?\)?$")
_CDT = re.compile(r"^D\d{4}$", re.IGNORECASE)
_CDT_LIST = re.compile(r"^D\d{4}(;\s*D\d{4})+$", re.IGNORECASE)
_BOOL = frozenset({"y", "n", "yes", "no", "true", "false"})
_URL = re.compile(r"^https?://", re.IGNORECASE)


def classify(text: str) -> str:
    """The most specific type a single non-null value looks like."""
    t = text.strip()
    low = t.casefold()
    if low in _BOOL:
        return "boolean"
    if _CDT.match(t):
        return "cdt"
    if _CDT_LIST.match(t):
        return "cdt_list"
    if _EMAIL.match(t):
        return "email"
    if _URL.match(t):
        return "url"
    if _INT.match(t):
        return "int"
    if _DECIMAL.match(t):
        return "decimal"
    if ("$" in t or t.startswith("(")) and _MONEY.match(t) and parse_money(t).problem is None:
        return "money"
    if len(t) >= 6 and (t[0].isdigit() or t[0] == "("):
        dt = parse_datetime(t)
        if dt.problem is None and dt.value is not None:
            has_time = ":" in t
            return "datetime" if has_time else "date"
        if parse_date(t).problem is None and parse_date(t).value is not None:
            return "date"
    if _PHONE.match(t):
        return "phone"
    if "\n" in t or len(t) > 120:
        return "long_text"
    return "text"


class _ColumnStats:
    __slots__ = ("capped", "distinct", "examples", "max_len", "nulls", "problems", "voted", "votes")

    def __init__(self) -> None:
        self.distinct: Counter[str] = Counter()
        self.capped = False
        self.nulls = 0
        self.max_len = 0
        self.votes: Counter[str] = Counter()
        self.voted = 0
        self.examples: list[str] = []
        self.problems: Counter[str] = Counter()

    def add(self, raw: str) -> None:
        if is_null(raw):
            self.nulls += 1
            return
        text = raw.strip()
        if len(text) > self.max_len:
            self.max_len = len(text)
        if not self.capped:
            self.distinct[text] += 1
            if len(self.distinct) > CARDINALITY_CAP:
                self.capped = True
        elif text in self.distinct:
            self.distinct[text] += 1
        if self.voted < TYPE_SAMPLE:
            self.voted += 1
            self.votes[classify(text)] += 1
            if len(self.examples) < EXAMPLES and text not in self.examples:
                self.examples.append(text)


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
    if best in ("int", "decimal") and votes.get("money", 0) > 0.05:
        best = "money"
    if best == "int" and not stats.capped and len(stats.distinct) == rows - stats.nulls > 20:
        best = "id"
    if best == "text" and share > 0.5 and not stats.capped:
        non_null = rows - stats.nulls
        if len(stats.distinct) <= 12 and non_null >= 3 * len(stats.distinct):
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
    if not stats.capped and len(stats.distinct) <= TOP_VALUES:
        top = [(show(v), n) for v, n in stats.distinct.most_common(TOP_VALUES)]
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
        cardinality=len(stats.distinct),
        cardinality_capped=stats.capped,
        max_length=stats.max_len,
        type_votes=votes,
        top_values=top,
        examples=[show(e) for e in stats.examples],
        problems=dict(stats.problems),
    )


def _norm_name(value: Any) -> str:
    return " ".join(str(value or "").casefold().split())


class _Damage:
    """Collects what is needed to find referential damage in one pass."""

    def __init__(self) -> None:
        self.ids: dict[str, set[str]] = {}
        self.deferred: list[tuple[str, str, str, str]] = []  # (file.col, target, ref, line)
        self.damage = Damage()
        self.people: dict[tuple[str, str, str], str] = {}
        self.family: dict[str, tuple[str, str]] = {}
        self.guarantors: list[tuple[str, str]] = []
        self.deleted: set[str] = set()
        self.deleted_with_appointments: set[str] = set()

    def see(self, export: Export, row: Row) -> None:
        spec = spec_for(row.file)
        if spec is None:
            return
        if spec.id_column and row.values.get(spec.id_column) is not None:
            self.ids.setdefault(row.file, set()).add(str(row.values[spec.id_column]))
        for problem in row.problems:
            if row.file == "patients" and problem.kind == "invalid_email":
                self.damage.invalid_emails += 1
            if row.file == "patients" and problem.kind == "junk_phone":
                self.damage.junk_phones += 1
        for col in spec.columns:
            if col.kind is Kind.REF and col.ref:
                ref = row.values.get(col.name)
                if ref is None:
                    continue
                if row.file == "patients" and col.name == "GuarantorID":
                    self.guarantors.append((row.source_id, str(ref)))
                    continue
                self.deferred.append((f"{row.file}.{col.name}", col.ref, str(ref), str(row.line)))
        v = row.values
        if row.file == "patients":
            key = (
                _norm_name(v.get("FirstName")),
                _norm_name(v.get("LastName")),
                str(v.get("DateOfBirth") or ""),
            )
            if key[0] and key[2]:
                if key in self.people:
                    self.damage.duplicate_patients += 1
                    if len(self.damage.duplicate_examples) < 20:
                        self.damage.duplicate_examples.append(
                            f"patients.csv line {row.line}: PatientID {row.source_id} looks like "
                            f"PatientID {self.people[key]}"
                        )
                else:
                    self.people[key] = row.source_id
            if v.get("Email") is None:
                self.damage.patients_without_email += 1
            self.family[row.source_id] = (
                _norm_name(v.get("LastName")),
                _norm_name(v.get("Address1")),
            )
            if v.get("Status") == "Deleted":
                self.deleted.add(row.source_id)
        elif row.file == "providers" and v.get("Email") is None:
            self.damage.providers_without_email += 1
            self.damage.providers_without_email_ids.append(row.source_id)
        elif row.file == "documents":
            name = v.get("FileName")
            if name is None or not export.document_exists(str(name)):
                self.damage.missing_document_files += 1
        elif row.file == "appointments":
            pid = v.get("PatientID")
            if pid is not None and str(pid) in self.deleted:
                self.deleted_with_appointments.add(str(pid))

    def finish(self) -> Damage:
        orphans: Counter[str] = Counter()
        for where, target, ref, _line in self.deferred:
            if ref not in self.ids.get(target, set()):
                orphans[where] += 1
        patients = self.ids.get("patients", set())
        for pid, gid in self.guarantors:
            if gid not in patients:
                orphans["patients.GuarantorID"] += 1
            elif self.family.get(gid) != self.family.get(pid):
                self.damage.guarantors_in_other_families += 1
        self.damage.orphan_references = dict(sorted(orphans.items()))
        self.damage.deleted_patients_with_appointments = len(self.deleted_with_appointments)
        return self.damage


def audit_export(
    export: Export,
    settings: Settings | None = None,
    *,
    unmask: bool = False,
    on_row: Callable[[str], None] | None = None,
    max_rejects: int = 1000,
) -> AuditReport:
    """Profile every file and column of an export and count its damage, in one streaming pass."""
    settings = settings or Settings()
    present = export.csv_files()
    order = [f for f in READ_ORDER if f in present] + [f for f in present if f not in READ_ORDER]
    damage = _Damage()
    files: list[FileAudit] = []
    rejects: list[RejectInfo] = []
    rejects_total = 0
    for name in order:
        header = export.columns(name)
        spec = spec_for(name)
        stats: dict[str, _ColumnStats] = {}
        for row in export.read(name):
            if on_row is not None:
                on_row(name)
            if isinstance(row, Reject):
                rejects_total += 1
                if len(rejects) < max_rejects:
                    rejects.append(
                        RejectInfo(file=name, line=row.line, column=row.column, reason=row.reason)
                    )
                continue
            if not stats:
                stats = {c: _ColumnStats() for c in row.raw}
            for column, raw in row.raw.items():
                stats[column].add(raw)
            for problem in row.problems:
                stats[problem.column].problems[problem.kind] += 1
            damage.see(export, row)
        read = export.stats[name]
        names = list(stats) or [h.strip() for h in header]
        file_audit = FileAudit(
            file=name,
            known=spec is not None,
            rows_read=read.rows_read,
            rows_yielded=read.rows_yielded,
            rows_rejected=read.rows_rejected,
            encoding=read.encoding,
            columns=[
                _profile(name, i, c, stats.get(c, _ColumnStats()), read.rows_yielded, unmask)
                for i, c in enumerate(names)
            ],
        )
        if spec is not None:
            file_audit.missing_columns = [c for c in spec.column_names if c not in names]
            file_audit.unknown_columns = [c for c in names if spec.column(c) is None]
        else:
            file_audit.unknown_columns = names
        files.append(file_audit)
    return AuditReport(
        export=str(export.path),
        manifest=export.manifest.model_dump(mode="json"),
        settings_used=settings.model_dump(mode="json"),
        files=files,
        missing_files=[f for f in FILES if f not in present],
        unknown_files=[f for f in present if spec_for(f) is None],
        other_files=export.other_files(),
        damage=damage.finish(),
        rejects=rejects,
        rejects_total=rejects_total,
    )
