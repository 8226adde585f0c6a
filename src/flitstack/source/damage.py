"""Referential damage found in one streaming pass, with patient-scale state kept on disk.

Resolving references needs every ID of the files they point at, duplicate detection needs every
patient's name and birth date, and guarantor checks need every family. Held in Python objects
that is hundreds of megabytes at 200,000 patients, so it lives in a temporary SQLite file
(owner-only, deleted afterwards) and the process only holds bounded batches. References are
checked a batch at a time with one indexed anti-join, so counts stay exact.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
from collections import Counter
from itertools import repeat
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel, Field

from flitstack.source.mess import MessKind
from flitstack.source.reader import Export, RowBatch
from flitstack.source.schema import FILES, Kind, role, spec_for

#: rows between flushes of the in-memory batches to SQLite (bounds memory per file)
FLUSH_ROWS = 5_000
DUPLICATE_EXAMPLES = 20
#: SQLite page cache, in KiB (negative cache_size means KiB)
CACHE_KIB = 32_768

#: file → small integer code, for every file some column references
TARGETS: dict[str, int] = {
    target: code
    for code, target in enumerate(
        sorted({c.ref for spec in FILES.values() for c in spec.columns if c.ref})
    )
}

#: the columns the checks read, by role (bound at import: a typo fails there)
_PATIENT_ID = role("patients", "patient_id")
_FIRST_NAME = role("patients", "first_name")
_LAST_NAME = role("patients", "last_name")
_DATE_OF_BIRTH = role("patients", "date_of_birth")
_PATIENT_EMAIL = role("patients", "email")
_ADDRESS1 = role("patients", "address1")
_GUARANTOR_ID = role("patients", "guarantor_id")
_PATIENT_STATUS = role("patients", "status")
_PROVIDER_EMAIL = role("providers", "email")
_DOCUMENT_FILE_NAME = role("documents", "file_name")
_APPOINTMENT_PATIENT_ID = role("appointments", "patient_id")

_SCHEMA = """
CREATE TABLE ids (t INTEGER NOT NULL, id TEXT NOT NULL, PRIMARY KEY (t, id)) WITHOUT ROWID;
CREATE TABLE deferred (place TEXT NOT NULL, t INTEGER NOT NULL, ref TEXT NOT NULL);
CREATE TABLE people (key TEXT NOT NULL, line INTEGER NOT NULL, pid TEXT NOT NULL);
CREATE TABLE family (pid TEXT PRIMARY KEY, fam TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE guarantors (pid TEXT NOT NULL, gid TEXT NOT NULL);
CREATE TABLE deleted (pid TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE deleted_seen (pid TEXT PRIMARY KEY) WITHOUT ROWID;
"""

#: the positions, in a JSON list of distinct references, of those whose target is not read
_MISSING_AT = (
    "SELECT j.key FROM json_each(?) AS j "
    "WHERE NOT EXISTS (SELECT 1 FROM ids WHERE t = ? AND id = j.value)"
)
_MARK_DELETED_SEEN = (
    "INSERT OR IGNORE INTO deleted_seen SELECT j.value FROM json_each(?) AS j "
    "WHERE EXISTS (SELECT 1 FROM deleted WHERE pid = j.value)"
)


class Damage(BaseModel):
    """Referential damage and gaps, counted exactly; examples give file and line (no values)."""

    orphan_references: dict[str, int] = Field(default_factory=dict)  # "file.Column" → count
    #: "file.IDColumn" → rows whose ID an earlier row of the file has
    repeated_ids: dict[str, int] = Field(default_factory=dict)
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


#: what JSON needs escaped in a string, but for the quote
_JSON_ESCAPED = re.compile(r"[\\\x00-\x1f]")


def _json_list(texts: list[str]) -> str:
    """``json.dumps`` of a list of texts, joined directly when none needs escaping (IDs)."""
    joined = '","'.join(texts)
    if joined.count('"') == 2 * (len(texts) - 1) and _JSON_ESCAPED.search(joined) is None:
        return f'["{joined}"]'
    return json.dumps(texts)


def _norm_name(value: Any) -> str:
    return " ".join(str(value or "").casefold().split())


class DamageTracker:
    """Collects what is needed to find referential damage while the audit streams the rows.

    Call :meth:`file` for each file in read order, feed it the file's rows, then :meth:`finish`.
    A reference is checked as soon as its target file has been read completely; references to
    files not read yet (or to the same file) are parked on disk and resolved at the end.
    """

    def __init__(self, export: Export, scratch_dir: Path | None = None) -> None:
        self.export = export
        self.damage = Damage()
        self.orphans: Counter[str] = Counter()
        self.done: set[str] = set()
        self._tmp = tempfile.TemporaryDirectory(prefix="flitstack-audit-", dir=scratch_dir)
        path = Path(self._tmp.name) / "scratch.sqlite"
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode = OFF",
            "synchronous = OFF",
            "locking_mode = EXCLUSIVE",
            f"cache_size = -{CACHE_KIB}",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(_SCHEMA)
        self.db.execute("BEGIN")

    def __enter__(self) -> DamageTracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()
        self._tmp.cleanup()

    def file(self, name: str) -> FileChecks:
        return FileChecks(self, name)

    # -- batch resolution

    def count_missing(self, place: str, target: str, refs: list[str]) -> None:
        """Count the references whose target has no such ID (each distinct one looked up once:
        a batch names the same patients and providers again and again)."""
        if refs:
            distinct = list(set(refs))  # in any order: only how many are missing counts
            rows = self.db.execute(_MISSING_AT, (_json_list(distinct), TARGETS[target]))
            orphans = [distinct[at] for (at,) in rows]
            if len(orphans) > 8:
                times = Counter(refs)
                self.orphans[place] += sum(times[ref] for ref in orphans)
            elif orphans:
                self.orphans[place] += sum(map(refs.count, orphans))

    def finish(self) -> Damage:
        db, damage = self.db, self.damage
        for place, missing in db.execute(
            "SELECT place, count(*) FROM deferred AS d WHERE NOT EXISTS "
            "(SELECT 1 FROM ids WHERE t = d.t AND id = d.ref) GROUP BY place"
        ):
            self.orphans[place] += missing
        patients = TARGETS["patients"]
        (orphan_guarantors,) = db.execute(
            "SELECT count(*) FROM guarantors AS g WHERE NOT EXISTS "
            "(SELECT 1 FROM ids WHERE t = ? AND id = g.gid)",
            (patients,),
        ).fetchone()
        if orphan_guarantors:
            self.orphans[f"patients.{_GUARANTOR_ID}"] += orphan_guarantors
        (damage.guarantors_in_other_families,) = db.execute(
            "SELECT count(*) FROM guarantors AS g "
            "JOIN ids ON ids.t = ? AND ids.id = g.gid "
            "LEFT JOIN family AS fg ON fg.pid = g.gid LEFT JOIN family AS fp ON fp.pid = g.pid "
            "WHERE fg.fam IS NOT fp.fam",
            (patients,),
        ).fetchone()
        db.execute("CREATE INDEX people_key ON people (key)")
        (damage.duplicate_patients,) = db.execute(
            "SELECT count(*) - count(DISTINCT key) FROM people"
        ).fetchone()
        damage.duplicate_examples = [
            f"patients.csv line {line}: {_PATIENT_ID} {pid} looks like {_PATIENT_ID} {first}"
            for line, pid, first in db.execute(
                "SELECT p.line, p.pid, f.pid FROM people AS p "
                "JOIN (SELECT key, min(rowid) AS first FROM people GROUP BY key "
                "      HAVING count(*) > 1) AS g ON g.key = p.key "
                "JOIN people AS f ON f.rowid = g.first "
                "WHERE p.rowid != g.first ORDER BY p.rowid LIMIT ?",
                (DUPLICATE_EXAMPLES,),
            )
        ]
        (damage.deleted_patients_with_appointments,) = db.execute(
            "SELECT count(*) FROM deleted_seen"
        ).fetchone()
        damage.orphan_references = dict(sorted(self.orphans.items()))
        return damage


class FileChecks:
    """The damage checks of one file: batches rows' references and patient facts."""

    def __init__(self, tracker: DamageTracker, name: str) -> None:
        self.tracker = tracker
        self.name = name
        self.spec = spec_for(name)
        self.rows = 0
        self.ids: list[str] = []
        #: (place, target, column, batch, resolved now) per reference column
        self.refs: list[tuple[str, str, str, list[str], bool]] = []
        self.people: list[tuple[str, int, str]] = []
        self.family: list[tuple[str, str]] = []
        self.guarantors: list[tuple[str, str]] = []
        self.deleted: list[str] = []
        self.appointment_patients: list[str] = []
        spec = self.spec
        self.id_column = spec.id_column if spec and name in TARGETS else None
        if spec is None:
            return
        for col in spec.columns:
            if col.kind is Kind.REF and col.ref:
                if name == "patients" and col.name == _GUARANTOR_ID:
                    continue  # resolved at the end, together with the family check
                now = col.ref in tracker.done and col.ref != name
                self.refs.append((f"{name}.{col.name}", col.ref, col.name, [], now))

    def see_batch(self, batch: RowBatch) -> None:
        """Take in a batch of rows, a column at a time (no row built): IDs, references, and
        each file's own checks (patients' duplicates, families, guarantors and status;
        providers without e-mail; documents missing from the export)."""
        if self.spec is None:
            return
        kept = batch.kept()
        if self.id_column is not None:
            self.ids.extend(batch.present(self.id_column, kept))
        for _place, _target, column, refs, _now in self.refs:
            refs.extend(batch.present(column, kept))
        name = self.name
        if name == "appointments":
            patients = batch.present(_APPOINTMENT_PATIENT_ID, kept)
            self.appointment_patients.extend(patients)
        elif name == "patients":
            self._see_patients(batch, kept)
        elif name == "providers":
            damage = self.tracker.damage
            emails = batch.column(_PROVIDER_EMAIL, kept)
            missing = [i for i, email in enumerate(emails) if email is None]
            if missing:
                ids = batch.source_ids(kept)
                damage.providers_without_email += len(missing)
                damage.providers_without_email_ids.extend(ids[i] for i in missing)
        elif name == "documents":
            exists = self.tracker.export.document_exists
            self.tracker.damage.missing_document_files += sum(
                1
                for file_name in batch.column(_DOCUMENT_FILE_NAME, kept)
                if file_name is None or not exists(str(file_name))
            )
        before = self.rows
        self.rows += len(batch.starts) - len(batch.rejected)
        if self.rows // FLUSH_ROWS > before // FLUSH_ROWS:
            self.flush()

    def _see_patients(self, batch: RowBatch, kept: list[int] | None) -> None:
        """The patients' checks of a batch: problems found while reading (invalid e-mails,
        junk phones), duplicate keys, families, guarantors, deleted patients."""
        damage = self.tracker.damage
        rejected = batch.rejected
        for i, found in batch.problems.items():
            if i in rejected:
                continue  # a reject is no row: its problems are not the row's
            for problem in found:
                if problem.kind == "invalid_email":
                    damage.invalid_emails += 1
                elif problem.kind == "junk_phone":
                    damage.junk_phones += 1
        pids = batch.source_ids(kept)
        lines = batch.starts if kept is None else [batch.starts[i] for i in kept]
        firsts = list(map(_norm_name, batch.column(_FIRST_NAME, kept)))
        lasts = list(map(_norm_name, batch.column(_LAST_NAME, kept)))
        borns = [str(born or "") for born in batch.column(_DATE_OF_BIRTH, kept)]
        self.people.extend(
            (f"{first}\x1f{last}\x1f{born}", line, pid)
            for first, last, born, line, pid in zip(firsts, lasts, borns, lines, pids, strict=True)
            if first and born
        )
        damage.patients_without_email += sum(
            1 for email in batch.column(_PATIENT_EMAIL, kept) if email is None
        )
        addresses = map(_norm_name, batch.column(_ADDRESS1, kept))
        self.family.extend(
            (pid, f"{last}\x1f{address}")
            for pid, last, address in zip(pids, lasts, addresses, strict=True)
        )
        self.guarantors.extend(
            (pid, str(guarantor))
            for pid, guarantor in zip(pids, batch.column(_GUARANTOR_ID, kept), strict=True)
            if guarantor is not None
        )
        self.deleted.extend(
            pid
            for pid, status in zip(pids, batch.column(_PATIENT_STATUS, kept), strict=True)
            if status == "Deleted"
        )

    def flush(self) -> None:
        """Move the batches into SQLite (or resolve them there) and empty them."""
        tracker, db = self.tracker, self.tracker.db
        if self.ids:
            code = TARGETS[self.name]
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO ids VALUES (?, ?)", zip(repeat(code), self.ids))
            repeated = len(self.ids) - (db.total_changes - before)  # ignored: seen before
            if repeated:
                place = f"{self.name}.{self.id_column}"
                damage = tracker.damage
                damage.repeated_ids[place] = damage.repeated_ids.get(place, 0) + repeated
            self.ids.clear()
        for place, target, _column, batch, now in self.refs:
            if not batch:
                continue
            if now:
                tracker.count_missing(place, target, batch)
            else:
                db.executemany(
                    "INSERT INTO deferred VALUES (?, ?, ?)",
                    zip(repeat(place), repeat(TARGETS[target]), batch),
                )
            batch.clear()
        if self.people:
            db.executemany("INSERT INTO people VALUES (?, ?, ?)", self.people)
            self.people.clear()
        if self.family:
            db.executemany("INSERT OR REPLACE INTO family VALUES (?, ?)", self.family)
            self.family.clear()
        if self.guarantors:
            db.executemany("INSERT INTO guarantors VALUES (?, ?)", self.guarantors)
            self.guarantors.clear()
        if self.deleted:
            db.executemany("INSERT OR IGNORE INTO deleted VALUES (?)", zip(self.deleted))
            self.deleted.clear()
        if self.appointment_patients:
            db.execute(_MARK_DELETED_SEEN, (_json_list(self.appointment_patients),))
            self.appointment_patients.clear()

    def close(self) -> None:
        """The file is read completely: flush, and resolve later references to it at once."""
        self.flush()
        self.tracker.done.add(self.name)
