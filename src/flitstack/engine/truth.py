"""Truth anchored to the source: what the export holds, checked against what Pipedrive holds.

The diff in ``verify.py`` compares Pipedrive with the payload flitstack sent; it cannot see a
value the engine never sent. This check starts from the source files instead, read again through
the confirmed map, and for every mapped column asks: did each non-empty source value arrive,
non-empty and plausible, in the record made from its row? For every file: how many of its rows
were rejected? Losses above 1 % of a column's values or a file's rows block the sample gate (and
make a full verify unclean) unless the person accepted them in the workbook, with a reason.
"""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from flitstack.engine.objects import KINDS as SOURCE_KINDS
from flitstack.engine.records import Setup
from flitstack.engine.staging import is_repeat
from flitstack.engine.state import StateStore
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import ColumnMap, Workbook
from flitstack.source import values as v
from flitstack.source.reader import Reject, open_export
from flitstack.source.schema import FILES, Kind, parent_ref
from flitstack.source.schema import role as role_of

BIRTH_DATE = role_of("patients", "date_of_birth")
APPOINTMENT_START = role_of("appointments", "start_date_time")
NOTE_WRITTEN = role_of("clinical_notes", "note_date_time")
PATIENT_ID = role_of("patients", "patient_id")

#: A loss above this share of a column's non-empty values, or of a file's rows, blocks the run.
LOSS_LIMIT = 0.01
#: Files whose rows each become one record, keyed ``<file>:<source id>``, and its object.
RECORD_OF = {k.source: k.creates for k in SOURCE_KINDS if k.keyed and k.source and k.creates}
#: Where a standard field role lands in the record read back (None: checked another way).
FIELD_AT: dict[str, str] = {
    "name": "name", "emails": "emails", "phones": "phones", "address": "address",
    "due": "due_date", "duration": "duration", "location": "location", "note": "note",
    "note_line": "note", "owner_id": "owner_id", "person_id": "person_id", "deal_id": "deal_id",
    "type": "type", "done": "done", "stage": "stage_id", "title": "title", "title_part": "title",
    "value": "value", "expected_close_date": "expected_close_date", "add_time": "add_time",
    "content": "content", "header": "content", "path": "name", "name_part": "name",
}  # fmt: skip
#: How many rows a loss names as examples (by source ID and line, never by value).
EXAMPLES = 5


@dataclass
class ColumnLoss:
    """One mapped column: its non-empty source values and those that did not arrive."""

    file: str
    column: str  # the header as the export spells it
    role: str
    target: str
    non_empty: int = 0
    lost: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # "source id: reason", never the value
    accepted: str = ""  # the person's reason, when the loss was accepted in the workbook

    @property
    def rate(self) -> float:
        return self.lost / self.non_empty if self.non_empty else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "column": self.column, "role": self.role, "target": self.target,
            "non_empty": self.non_empty, "lost": self.lost, "rate": round(self.rate, 4),
            "reasons": dict(self.reasons.most_common()), "examples": self.examples,
            "accepted": self.accepted,
        }  # fmt: skip


@dataclass
class RowLoss:
    """One file: its rows in scope and those rejected (with why)."""

    file: str
    rows: int = 0  # every row of the file
    in_sample: int = 0  # rows that belong to the sampled patients (= rows on a full run)
    rejected_independent: int = 0  # rejected whatever the sample (orphans, unreadable rows)
    rejected_in_sample: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    accepted: str = ""

    @property
    def rejected(self) -> int:
        return self.rejected_independent + self.rejected_in_sample

    @property
    def rate(self) -> float:
        """The share of the file's rows a full run would lose, estimated from this run."""
        rate = self.rejected_independent / self.rows if self.rows else 0.0
        if self.in_sample:
            rate += self.rejected_in_sample / self.in_sample
        return min(rate, 1.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "rows": self.rows, "in_sample": self.in_sample,
            "rejected": self.rejected, "rate": round(self.rate, 4),
            "reasons": dict(self.reasons.most_common()), "accepted": self.accepted,
        }  # fmt: skip


@dataclass
class TruthReport:
    """Per-column and per-file losses, measured from the source files."""

    columns: list[ColumnLoss] = field(default_factory=list)
    files: list[RowLoss] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # "file.column: why it is not checked"

    def blocking(self) -> list[str]:
        """One line per loss over the limit that nobody accepted."""
        out = []
        for f in self.files:
            if f.rate > LOSS_LIMIT and not f.accepted:
                top = ", ".join(f"{r} ({n})" for r, n in f.reasons.most_common(2))
                out.append(
                    f"{f.file}.csv: {f.rejected} rows rejected ({f.rate:.1%} of the file): {top}"
                )
        for c in self.columns:
            if c.rate > LOSS_LIMIT and not c.accepted:
                top = ", ".join(f"{r} ({n})" for r, n in c.reasons.most_common(2))
                out.append(
                    f"{c.file}.{c.column}: {c.lost} of {c.non_empty} values lost "
                    f"({c.rate:.1%}): {top}"
                )
        return out

    @property
    def clean(self) -> bool:
        return not self.blocking()

    def apply_accepted(self, wb: Workbook) -> None:
        """Mark the losses the workbook (as confirmed now) accepts, with the person's reason."""
        accepted = {(a.file, a.column or ""): a.reason for a in wb.accepted_losses}
        for f in self.files:
            f.accepted = accepted.get((f.file, ""), "")
        for c in self.columns:
            c.accepted = accepted.get((c.file, c.column), "")

    def over_limit(self) -> list[dict[str, Any]]:
        """Every loss over the limit, accepted or not: what the sample gate weighs against the
        workbook's accepted losses when the full run is asked for."""
        out: list[dict[str, Any]] = []
        for f in self.files:
            if f.rate > LOSS_LIMIT:
                out.append(
                    {
                        "file": f.file,
                        "column": None,
                        "rate": f.rate,
                        "line": f"{f.file}.csv: {f.rejected} rows rejected ({f.rate:.1%})",
                    }
                )
        for c in self.columns:
            if c.rate > LOSS_LIMIT:
                out.append(
                    {
                        "file": c.file,
                        "column": c.column,
                        "rate": c.rate,
                        "line": f"{c.file}.{c.column}: {c.lost} of {c.non_empty} values "
                        f"lost ({c.rate:.1%})",
                    }
                )
        return out  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "blocking": self.blocking(),
            "columns": [c.as_dict() for c in self.columns],
            "files": [f.as_dict() for f in self.files],
            "unchecked": self.unchecked,
        }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return str(value.get("value") if "value" in value else value)
    if isinstance(value, list):
        return " ".join(_text(x) for x in value)
    return str(value)


def _present(value: Any) -> bool:
    if value is None or value == "" or value == [] or value == {}:
        return False
    return not (isinstance(value, dict) and "value" in value and value["value"] in (None, ""))


def _parsed_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def plausible(role: str, kind: Kind | None, value: Any, export_day: date) -> str | None:
    """Why an arrived value cannot be right, or None. Judged on what Pipedrive holds."""
    text = _text(value).strip()
    if not text:
        return None
    if role == BIRTH_DATE:
        day = _parsed_date(text)
        if day is None:
            return "implausible: not a date"
        if day > export_day:
            return "implausible: date of birth after the export date"
        if day < export_day - timedelta(days=365 * 120 + 30):
            return "implausible: date of birth more than 120 years before the export"
    elif role in {APPOINTMENT_START, NOTE_WRITTEN}:
        day = _parsed_date(text)
        ahead = 365 * 3 if role == APPOINTMENT_START else 1
        if day is not None and not (
            export_day - timedelta(days=365 * 80) <= day <= export_day + timedelta(days=ahead)
        ):
            return "implausible: date outside the export's span"
    elif kind is Kind.MONEY:
        try:
            amount = float(text.replace(",", ""))
        except ValueError:
            return None
        if abs(amount) > 1_000_000:
            return "implausible: amount over 1,000,000"
    elif kind is Kind.EMAIL:
        for part in text.split():
            try:
                validate_email(part, check_deliverability=False)
            except EmailNotValidError:
                return "implausible: not a valid e-mail"
    elif kind is Kind.PHONE:
        try:
            number = phonenumbers.parse(text.split()[0], None)
        except phonenumbers.NumberParseException:
            return "implausible: not a phone number"
        if not phonenumbers.is_possible_number(number):
            return "implausible: not a possible phone number"
    return None


def _arrived(c: ColumnMap, record: dict[str, Any], setup: Setup) -> tuple[bool, Any] | None:
    """(arrived, the value held) for a column in its record; None when not checkable here."""
    if c.custom is not None and c.target:
        spec = setup.fields.get((c.target, c.custom.name))
        if spec is None:
            return (False, None)
        held = (record.get("custom_fields") or {}).get(spec["key"])
        return (_present(held), held)
    where = FIELD_AT.get(c.field or "")
    if where is None:
        return None
    held = record.get(where)
    if c.field == "note_line":
        label = str(c.options.get("label") or c.key)
        return (html.escape(label, quote=False) + ":" in _text(held), held)
    if c.field == "done":
        return (held is not None, held)
    return (_present(held), held)


def _contains(c: ColumnMap, held: Any, raw: str) -> bool:
    """For fields several columns share (name, phones, e-mails, address), the column's own text
    must be in what arrived, not just something."""
    if c.field not in {"name", "address", "title_part", "name_part"}:
        return True
    words = [w for w in re.findall(r"[^\W_]+", raw) if len(w) > 1]
    have = _text(held).casefold()
    return all(w.casefold() in have for w in words[:3])


def source_truth(
    export_path: Path,
    bindings: Bindings,
    wb: Workbook,
    state: StateStore,
    setup: Setup,
    records: dict[str, dict[str, Any] | None],
    run_id: int | None,
    sample: bool,
) -> TruthReport:
    """Read the export again through the map and check every row and mapped value."""
    report = TruthReport()
    outcomes: dict[tuple[str, str], tuple[str, str]] = {}
    #: rows whose ID an earlier row of their file has: their outcome by line (the first row
    #: with that ID is the one migrated, and is checked as any other)
    repeats: dict[tuple[str, str], dict[int, tuple[str, str]]] = {}
    flags: dict[tuple[str, str, str], str] = {}
    for o in state.outcomes(run_id if sample else None):
        if o["outcome"] == "flagged":
            flags[(o["file"], o["source_id"], o["field"])] = o["reason"]
        elif is_repeat(o["reason"]):
            by_line = repeats.setdefault((o["file"], o["source_id"]), {})
            by_line[o["line"]] = (o["outcome"], o["reason"])
        else:
            outcomes.setdefault((o["file"], o["source_id"]), (o["outcome"], o["reason"]))
    mapped: dict[str, int] = {}
    by_id: dict[tuple[str, int], dict[str, Any] | None] = {}  # related records (a lab's org)
    for key, kind, pd_id, _created in state.mapped_keys():
        mapped[key] = pd_id
        if key in records:
            by_id[(kind, pd_id)] = records[key]
    accepted = {(a.file, a.column or ""): a.reason for a in wb.accepted_losses}
    by_file: dict[str, list[ColumnMap]] = defaultdict(list)
    for c in wb.columns:
        if c.migrate and c.target and c.file in RECORD_OF:
            by_file[c.file].append(c)
    chosen = _chosen_patients(state, mapped, outcomes, sample)
    with open_export(export_path, bindings) as export:
        export_day = _export_day(export.manifest.exported_at)
        for file in export.csv_files():
            spec = FILES.get(file)
            if spec is None:
                continue
            rows = RowLoss(file, accepted=accepted.get((file, ""), ""))
            columns = {
                c.column: ColumnLoss(
                    c.file, c.column, c.key, c.target or "",
                    accepted=accepted.get((file, c.column), ""),
                )
                for c in by_file.get(file, [])
            }  # fmt: skip
            parent = PATIENT_ID if file == "patients" else parent_ref(file)
            for item in export.read(file):
                rows.rows += 1
                if isinstance(item, Reject):
                    rows.rejected_independent += 1
                    rows.reasons[_short(item.reason)] += 1
                    continue
                sid = item.source_id
                owner = sid if file == "patients" or parent is None else item.values.get(parent)
                in_sample = not sample or (parent is not None and str(owner or "") in chosen)
                rows.in_sample += in_sample
                repeat = repeats.get((file, sid), {}).get(item.line)
                if repeat is not None and repeat[0] == "skipped":
                    continue  # an exact copy of the row migrated: nothing of it is lost
                outcome = repeat or outcomes.get((file, sid))
                if outcome is not None and outcome[0] == "rejected":
                    if in_sample:
                        rows.rejected_in_sample += 1
                    else:
                        rows.rejected_independent += 1
                    rows.reasons[_short(outcome[1])] += 1
                    continue
                if not in_sample or file not in RECORD_OF:
                    continue
                key = f"{file}:{sid}"
                record = records.get(key, {}) if key in mapped else None
                if key not in mapped and outcome is None and not sample:
                    rows.rejected_in_sample += 1
                    rows.reasons["no record in Pipedrive and no reason recorded"] += 1
                    continue
                if record == {}:
                    continue  # mapped by an earlier run this verify does not cover
                if record is None and outcome is not None:
                    continue  # skipped on purpose, with its reason (a Deleted patient…)
                for c in by_file.get(file, []):
                    raw = item.raw.get(c.key)
                    if raw is None or v.is_null(str(raw)):
                        continue
                    loss = columns[c.column]
                    loss.non_empty += 1
                    held_in = _record_for(c, file, record, by_id)
                    if held_in == {}:
                        continue  # its organization was there before the migration
                    why = _why_lost(c, held_in, setup, str(raw), outcome, export_day, spec)
                    if why is None:
                        continue
                    why = flags.get((file, sid, c.column), why)
                    loss.lost += 1
                    loss.reasons[_short(why)] += 1
                    if len(loss.examples) < EXAMPLES:
                        loss.examples.append(f"{file}:{sid} line {item.line}: {_short(why)}")
            report.files.append(rows)
            report.columns.extend(columns.values())
    for c in wb.columns:
        if c.migrate and c.target and c.file not in RECORD_OF:
            report.unchecked.append(
                f"{c.file}.{c.column}: merged into another record (its rows are counted)"
            )
    return report


def _record_for(
    c: ColumnMap,
    file: str,
    record: dict[str, Any] | None,
    by_id: dict[tuple[str, int], dict[str, Any] | None],
) -> dict[str, Any] | None:
    """The record a column lands in: the row's own, or the organization its deal links to
    (a lab's or a referral practice's name, phone and e-mail)."""
    if record is None or c.target != "organization" or RECORD_OF[file] == "organizations":
        return record
    org_id = _linked_id(record.get("org_id"))
    if org_id is None:
        return None
    return by_id.get(("organizations", org_id), {})


def _linked_id(held: Any) -> int | None:
    """The ID a link field holds: an int (v2), or the ``value`` of ``{"value": …}`` (v1)."""
    linked = held.get("value") if isinstance(held, dict) else held
    return linked if isinstance(linked, int) else None


def _why_lost(
    c: ColumnMap,
    record: dict[str, Any] | None,
    setup: Setup,
    raw: str,
    outcome: tuple[str, str] | None,
    export_day: date,
    spec: Any,
) -> str | None:
    if record is None:
        if outcome is not None:
            return f"row not migrated: {outcome[1]}"
        return "the record is not in Pipedrive"
    got = _arrived(c, record, setup)
    if got is None:
        return None
    ok, held = got
    if not ok:
        return "value did not arrive"
    if not _contains(c, held, raw):
        return "value did not arrive in full"
    if c.field == "owner_id":  # a provider: its own user, not just any owner
        user = setup.provider_users.get(raw.strip())
        if user is None:
            return "its provider is not in the export: owned by the fallback user"
        if _linked_id(held) != user:
            return "owned by another user than its provider's"
    column = spec.column(c.key)
    return plausible(c.key, column.kind if column else None, held, export_day)


def _short(reason: str) -> str:
    """A reason without the row-specific tail, so equal reasons count together."""
    text = reason.split(" (orphan)")[0]
    head, found, _ = text.partition(" does not exist")
    if found and " " in head:  # "treatment plan 99 does not exist": the thing, not its ID
        return f"its {head.rsplit(' ', 1)[0]} does not exist (orphan)"
    return text[:120]


def _chosen_patients(
    state: StateStore,
    mapped: dict[str, int],
    outcomes: dict[tuple[str, str], tuple[str, str]],
    sample: bool,
) -> set[str]:
    if not sample:
        return set()
    chosen = {k.split(":", 1)[1] for k in mapped if k.startswith("patients:")}
    chosen |= {sid for (file, sid), (kind, _) in outcomes.items()
               if file == "patients" and kind == "skipped"}  # fmt: skip
    return chosen


def _export_day(taken: Any) -> date:
    return taken.date() if taken is not None else date.today()
