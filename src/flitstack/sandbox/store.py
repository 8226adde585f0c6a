"""The sandbox account's state: records as JSON in SQLite, one lock, nothing else.

Records are kept exactly as the API returns them, so a dump compares like for like with
what a client reads back. Writes inside ``transaction()`` commit together at the end of the
outermost block or not at all (an inner block is a savepoint), so a request that fails, or whose
answer cannot be encoded, leaves nothing behind.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

KINDS = (
    "users",
    "activityTypes",
    "pipelines",
    "stages",
    "personFields",
    "organizationFields",
    "dealFields",
    "activityFields",
    "organizations",
    "persons",
    "deals",
    "activities",
    "notes",
    "files",
)


#: SQLite keys are signed 64-bit: a larger ID names no record (never an OverflowError).
MIN_ID, MAX_ID = -(2**63), 2**63 - 1


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def storable_id(record_id: Any) -> bool:
    """Whether ``record_id`` can be a record's key (an int within SQLite's 64 bits)."""
    return (
        isinstance(record_id, int)
        and not isinstance(record_id, bool)
        and MIN_ID <= record_id <= MAX_ID
    )


class Store:
    """Thread-safe CRUD over ``records(kind, id, data)``."""

    def __init__(self, path: str | None = None) -> None:
        # autocommit: transactions are begun and ended by ``transaction()`` alone
        self._db = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None
        )
        self._lock = threading.RLock()
        self._depth = 0  # open transaction() blocks (under the lock, so one thread's)
        with self.transaction():
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS records (kind TEXT, id INTEGER, data TEXT, "
                "PRIMARY KEY (kind, id))"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS seq (kind TEXT PRIMARY KEY, last INT)")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write in the block commits at the end of the outermost block, or none does
        (an exception rolls the block back; a nested block is a savepoint of the outer one)."""
        with self._lock:
            depth = self._depth
            savepoint = f"sp{depth}"
            self._db.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
            self._depth += 1
            try:
                yield
            except BaseException:
                if depth == 0:
                    self._db.execute("ROLLBACK")
                else:
                    self._db.execute(f"ROLLBACK TO {savepoint}")
                    self._db.execute(f"RELEASE {savepoint}")
                raise
            else:
                self._db.execute("COMMIT" if depth == 0 else f"RELEASE {savepoint}")
            finally:
                self._depth = depth

    def meta(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def next_id(self, kind: str) -> int:
        with self.transaction():
            row = self._db.execute("SELECT last FROM seq WHERE kind=?", (kind,)).fetchone()
            new = (row[0] if row else 0) + 1
            self._db.execute("INSERT OR REPLACE INTO seq VALUES (?, ?)", (kind, new))
        return new

    def insert(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.transaction():
            if "id" not in data:
                data = {"id": self.next_id(kind), **data}
            self._db.execute(
                "INSERT INTO records VALUES (?, ?, ?)", (kind, data["id"], json.dumps(data))
            )
        return data

    def get(self, kind: str, record_id: int) -> dict[str, Any] | None:
        if not storable_id(record_id):
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM records WHERE kind=? AND id=?", (kind, record_id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.transaction():
            self._db.execute(
                "UPDATE records SET data=? WHERE kind=? AND id=?",
                (json.dumps(data), kind, data["id"]),
            )
        return data

    def delete(self, kind: str, record_id: int) -> bool:
        if not storable_id(record_id):
            return False
        with self.transaction():
            cur = self._db.execute("DELETE FROM records WHERE kind=? AND id=?", (kind, record_id))
        return cur.rowcount > 0

    def all(self, kind: str, after_id: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT data FROM records WHERE kind=? AND id>? ORDER BY id"
        args: tuple[Any, ...] = (kind, min(max(after_id, MIN_ID), MAX_ID))
        if limit is not None:
            sql += " LIMIT ?"
            args = (*args, limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        return {kind: self.all(kind) for kind in KINDS}
