"""Where the load reads rows from, without holding the export in memory.

The export is read once into a SQLite file beside the state (owner-only, removed when the run
ends), each row stored with the key it hangs on (its patient, or a plan item's plan) and indexed
by it. The runner then takes patients a chunk at a time and fetches just their children, so a
20,000-patient export needs about the memory of a 2,000-patient one.
:class:`MemorySource` offers the same reads over rows already in memory (unit tests).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from flitstack.source.reader import Export, Reject, Row
from flitstack.source.schema import FILES, Kind, parent_ref, role

#: how the reason of a row whose ID an earlier row of its file has ends
REPEAT = ": only that first row is migrated"


def is_repeat(reason: str) -> bool:
    """Whether an outcome's reason is that of a row repeating an earlier row's ID."""
    return reason.endswith(REPEAT)


#: How many keys one ``IN (…)`` query asks for (SQLite's default limit is 32,766 variables).
_BATCH = 900


def group_key(file: str) -> str | None:
    """The role a file's rows are grouped by: the patient they belong to; a plan item's plan;
    a patient's own ID. A file the format does not know is grouped by ``PatientID`` if any."""
    if file == "patients":
        return role("patients", "patient_id")
    spec = FILES.get(file)
    if spec is not None:
        ref = parent_ref(file)
        if ref is not None:
            return ref
        for col in spec.columns:
            if col.kind is Kind.REF and col.ref == "treatment_plans":
                return col.name
        return None
    return role("patients", "patient_id")


class RowSource(Protocol):
    def files(self) -> list[str]: ...

    def rows(self, file: str) -> Iterator[Row]: ...

    def children(self, file: str, keys: Iterable[str]) -> dict[str, list[Row]]: ...


class MemorySource:
    """Rows already in memory, read the way staged rows are."""

    def __init__(self, rows: dict[str, list[Row]]) -> None:
        self._rows = rows
        self._groups: dict[str, dict[str, list[Row]]] = {}

    def files(self) -> list[str]:
        return list(self._rows)

    def rows(self, file: str) -> Iterator[Row]:
        return iter(self._rows.get(file, []))

    def children(self, file: str, keys: Iterable[str]) -> dict[str, list[Row]]:
        if file not in self._groups:
            by = group_key(file)
            groups: dict[str, list[Row]] = defaultdict(list)
            for r in self._rows.get(file, []):
                key = str(r.values.get(by) or "").strip() if by else ""
                groups[key].append(r)
            self._groups[file] = groups
        groups = self._groups[file]
        return {k: groups[k] for k in keys if k in groups}


class Staging:
    """An export's rows in SQLite, keyed for chunked reads. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        #: ``sid``: the row's source ID (its position in a file without IDs), to find an ID
        #: given twice
        self.db.execute("CREATE TABLE rows (file TEXT, key TEXT, pos INTEGER, sid TEXT, data BLOB)")
        self._files: list[str] = []

    def stage(
        self, export: Export, on_reject: Callable[[str, Reject], None],
        on_row: Callable[[str], None],
        on_repeat: Callable[[str, Row, str, str], None],
    ) -> None:  # fmt: skip
        """Read every file of the export once; rejects go to ``on_reject``. A row whose ID an
        earlier row of its file has is taken out (the first is the one migrated) and goes to
        ``on_repeat`` with its outcome and why: skipped when it is an exact copy of the first
        (nothing is lost), rejected when its values differ."""
        for name in export.csv_files():
            self._files.append(name)
            by = group_key(name)
            batch: list[tuple[str, str, int, str, bytes]] = []
            for pos, item in enumerate(export.read(name)):
                on_row(name)
                if isinstance(item, Reject):
                    on_reject(name, item)
                    continue
                key = str(item.values.get(by) or "").strip() if by else ""
                data = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
                batch.append((name, key, pos, item.source_id, data))
                if len(batch) >= 2000:
                    self.db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?)", batch)
                    batch.clear()
            if batch:
                self.db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?)", batch)
        self._take_out_repeats(on_repeat)
        self.db.execute("CREATE INDEX rows_by_key ON rows (file, key, pos)")
        self.db.commit()

    def _take_out_repeats(self, on_repeat: Callable[[str, Row, str, str], None]) -> None:
        """Every row after the first of its file with the same ID: reported, then removed (one
        ID is one record; which row's values would win is for a person to decide)."""
        self.db.execute(
            "CREATE TEMP TABLE repeated AS SELECT file, sid, min(rowid) AS first FROM rows "
            "GROUP BY file, sid HAVING count(*) > 1"
        )
        self.db.execute("CREATE INDEX temp.repeated_by_id ON repeated (file, sid)")
        later = self.db.execute(
            "SELECT r.rowid, r.file, r.data, f.data FROM rows AS r "
            "JOIN repeated AS d ON d.file = r.file AND d.sid = r.sid "
            "JOIN rows AS f ON f.rowid = d.first WHERE r.rowid != d.first ORDER BY r.rowid"
        ).fetchall()
        for _rowid, file, data, first_data in later:
            row, first = pickle.loads(data), pickle.loads(first_data)
            column = row.id_column or "ID"
            if row.raw == first.raw:
                outcome, why = "skipped", f"the same row as line {first.line}{REPEAT}"
            else:
                outcome = "rejected"
                why = (
                    f"{column} {row.source_id} is also on line {first.line}, with other "
                    f"values{REPEAT}"
                )
            on_repeat(file, row, outcome, why)
        self.db.executemany("DELETE FROM rows WHERE rowid = ?", [(r[0],) for r in later])
        self.db.execute("DROP TABLE temp.repeated")

    def files(self) -> list[str]:
        return list(self._files)

    def rows(self, file: str) -> Iterator[Row]:
        cursor = self.db.execute("SELECT data FROM rows WHERE file=? ORDER BY pos", (file,))
        for (data,) in cursor:
            yield pickle.loads(data)

    def children(self, file: str, keys: Iterable[str]) -> dict[str, list[Row]]:
        wanted: Sequence[str] = list(dict.fromkeys(keys))
        out: dict[str, list[Row]] = {}
        for start in range(0, len(wanted), _BATCH):
            part = wanted[start : start + _BATCH]
            marks = ",".join("?" * len(part))
            cursor = self.db.execute(
                f"SELECT key, data FROM rows WHERE file=? AND key IN ({marks}) ORDER BY pos",
                (file, *part),
            )
            for key, data in cursor:
                out.setdefault(key, []).append(pickle.loads(data))
        return {k: out[k] for k in wanted if k in out}

    def close(self) -> None:
        self.db.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
