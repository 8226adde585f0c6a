"""The sandbox account's state: records as JSON in SQLite, one lock, nothing else.

Records are kept exactly as the API returns them, so a dump compares like for like with
what a client reads back.
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


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """Thread-safe CRUD over ``records(kind, id, data)``."""

    def __init__(self, path: str | None = None) -> None:
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False)
        self._lock = threading.RLock()
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS records (kind TEXT, id INTEGER, data TEXT, "
                "PRIMARY KEY (kind, id))"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS seq (kind TEXT PRIMARY KEY, last INT)")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock, self._db:
            yield

    def meta(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def next_id(self, kind: str) -> int:
        with self._lock, self._db:
            row = self._db.execute("SELECT last FROM seq WHERE kind=?", (kind,)).fetchone()
            new = (row[0] if row else 0) + 1
            self._db.execute("INSERT OR REPLACE INTO seq VALUES (?, ?)", (kind, new))
        return new

    def insert(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock, self._db:
            if "id" not in data:
                data = {"id": self.next_id(kind), **data}
            self._db.execute(
                "INSERT INTO records VALUES (?, ?, ?)", (kind, data["id"], json.dumps(data))
            )
        return data

    def get(self, kind: str, record_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM records WHERE kind=? AND id=?", (kind, record_id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock, self._db:
            self._db.execute(
                "UPDATE records SET data=? WHERE kind=? AND id=?",
                (json.dumps(data), kind, data["id"]),
            )
        return data

    def delete(self, kind: str, record_id: int) -> bool:
        with self._lock, self._db:
            cur = self._db.execute("DELETE FROM records WHERE kind=? AND id=?", (kind, record_id))
        return cur.rowcount > 0

    def all(self, kind: str, after_id: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT data FROM records WHERE kind=? AND id>? ORDER BY id"
        args: tuple[Any, ...] = (kind, after_id)
        if limit is not None:
            sql += " LIMIT ?"
            args = (*args, limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        return {kind: self.all(kind) for kind in KINDS}
