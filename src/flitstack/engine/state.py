"""The migration project's memory: one SQLite file, owner-only.

It holds the source ↔ Pipedrive ID map, write intents (so a killed run knows which creates
may have happened), the audit log of every write, before-images of records the migration
changed but did not create, the setup it made, and what was rejected or skipped and why.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, kind TEXT, started TEXT, finished TEXT,
  status TEXT, summary TEXT);
CREATE TABLE IF NOT EXISTS idmap (key TEXT PRIMARY KEY, kind TEXT, pd_id INTEGER, created INTEGER,
  row_hash TEXT, modified TEXT, run_id INTEGER, person_key TEXT);
CREATE TABLE IF NOT EXISTS intents (key TEXT PRIMARY KEY, kind TEXT, started TEXT);
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, ts TEXT, run_id INTEGER, method TEXT,
  path TEXT, object TEXT, source_key TEXT, pd_id INTEGER, outcome TEXT, token_cost INTEGER);
CREATE TABLE IF NOT EXISTS before_images (kind TEXT, pd_id INTEGER, data TEXT,
  PRIMARY KEY (kind, pd_id));
CREATE TABLE IF NOT EXISTS setup (what TEXT, name TEXT, pd_key TEXT, data TEXT, created INTEGER,
  PRIMARY KEY (what, name));
CREATE TABLE IF NOT EXISTS outcomes (run_id INTEGER, file TEXT, source_id TEXT, line INTEGER,
  field TEXT, outcome TEXT, reason TEXT);
CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), taken TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS payloads (key TEXT PRIMARY KEY, kind TEXT, pd_id INTEGER, body TEXT,
  run_id INTEGER);
CREATE TABLE IF NOT EXISTS checks (run_id INTEGER PRIMARY KEY, kind TEXT, checked TEXT,
  fields INTEGER, differences INTEGER, records INTEGER);
CREATE TABLE IF NOT EXISTS check_losses (run_id INTEGER PRIMARY KEY, data TEXT);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class StateStore:
    """All engine state; every method commits, so a kill loses at most one in-flight write."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if fresh:
            os.chmod(path, 0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # runs
    def start_run(self, kind: str) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (kind, started, status) VALUES (?, ?, 'running')", (kind, now())
        )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE runs SET finished=?, status=?, summary=? WHERE id=?",
            (now(), status, json.dumps(summary), run_id),
        )

    def runs(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT id, kind, started, finished, status, summary FROM runs")
        return [
            dict(zip(("id", "kind", "started", "finished", "status", "summary"), r, strict=True))
            for r in rows
        ]

    # id map and intents
    def pd_id(self, key: str) -> int | None:
        row = self.db.execute("SELECT pd_id FROM idmap WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else None

    def mapping(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT key, kind, pd_id, created, row_hash, modified FROM idmap WHERE key=?", (key,)
        ).fetchone()
        if row is None:
            return None
        return dict(
            zip(("key", "kind", "pd_id", "created", "row_hash", "modified"), row, strict=True)
        )

    def intend(self, key: str, kind: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO intents VALUES (?, ?, ?)", (key, kind, now()))

    def has_intent(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM intents WHERE key=?", (key,)).fetchone() is not None

    def record(
        self,
        key: str,
        kind: str,
        pd_id: int,
        created: bool,
        run_id: int,
        row_hash: str = "",
        modified: str = "",
    ) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO idmap VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (key, kind, pd_id, int(created), row_hash, modified, run_id),
            )
            self.db.execute("DELETE FROM intents WHERE key=?", (key,))

    def update_hash(self, key: str, row_hash: str, modified: str) -> None:
        self.db.execute(
            "UPDATE idmap SET row_hash=?, modified=? WHERE key=?", (row_hash, modified, key)
        )

    def created(self, kind: str) -> list[tuple[str, int]]:
        rows = self.db.execute(
            "SELECT key, pd_id FROM idmap WHERE kind=? AND created=1 ORDER BY rowid", (kind,)
        )
        return [(r[0], int(r[1])) for r in rows]

    def forget(self, key: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM idmap WHERE key=?", (key,))
            self.db.execute("DELETE FROM payloads WHERE key=?", (key,))

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for kind, created, n in self.db.execute(
            "SELECT kind, created, count(*) FROM idmap GROUP BY kind, created"
        ):
            out.setdefault(kind, {})["created" if created else "matched"] = n
        return out

    def keys_for(self, prefix: str) -> Iterator[tuple[str, int, str, str]]:
        yield from self.db.execute(
            "SELECT key, pd_id, row_hash, modified FROM idmap WHERE key LIKE ?", (prefix + "%",)
        )

    # audit log
    def audit(
        self,
        run_id: int,
        method: str,
        path: str,
        obj: str,
        source_key: str,
        pd_id: int | None,
        outcome: str,
        cost: int,
    ) -> None:
        self.db.execute(
            "INSERT INTO audit (ts, run_id, method, path, object, source_key, pd_id, outcome, "
            "token_cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now(), run_id, method, path, obj, source_key, pd_id, outcome, cost),
        )

    def audit_rows(self) -> list[dict[str, Any]]:
        cols = ("id", "ts", "run_id", "method", "path", "object", "source_key", "pd_id",
                "outcome", "token_cost")  # fmt: skip
        rows = self.db.execute(f"SELECT {', '.join(cols)} FROM audit ORDER BY id")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    # before-images
    def keep_before_image(self, kind: str, pd_id: int, data: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO before_images VALUES (?, ?, ?)", (kind, pd_id, json.dumps(data))
        )

    def before_images(self) -> list[tuple[str, int, dict[str, Any]]]:
        rows = self.db.execute("SELECT kind, pd_id, data FROM before_images")
        return [(k, int(i), json.loads(d)) for k, i, d in rows]

    # setup
    def remember_setup(
        self, what: str, name: str, pd_key: str, data: dict[str, Any], created: bool
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO setup VALUES (?, ?, ?, ?, ?)",
            (what, name, pd_key, json.dumps(data), int(created)),
        )

    def setup_items(self, what: str) -> dict[str, tuple[str, dict[str, Any], bool]]:
        rows = self.db.execute(
            "SELECT name, pd_key, data, created FROM setup WHERE what=?", (what,)
        )
        return {n: (k, json.loads(d), bool(c)) for n, k, d, c in rows}

    def forget_setup(self, what: str, name: str) -> None:
        self.db.execute("DELETE FROM setup WHERE what=? AND name=?", (what, name))

    # outcomes (rejects / skips / flags)
    def note_outcome(
        self,
        run_id: int,
        file: str,
        source_id: str,
        line: int,
        field: str,
        outcome: str,
        reason: str,
    ) -> None:
        self.db.execute(
            "INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, file, source_id, line, field, outcome, reason),
        )

    def reported_ids(self, file: str) -> set[str]:
        """Source IDs of ``file`` an earlier run rejected or skipped (so not new in a delta)."""
        rows = self.db.execute(
            "SELECT DISTINCT source_id FROM outcomes WHERE file=? AND outcome IN "
            "('rejected', 'skipped')",
            (file,),
        )
        return {r[0] for r in rows}

    def outcomes(self, run_id: int | None = None) -> list[dict[str, Any]]:
        cols = ("run_id", "file", "source_id", "line", "field", "outcome", "reason")
        sql = f"SELECT {', '.join(cols)} FROM outcomes"
        rows = self.db.execute(
            sql + (" WHERE run_id=?" if run_id else ""), (run_id,) if run_id else ()
        )
        return [dict(zip(cols, r, strict=True)) for r in rows]

    # what was sent: the expected state of every record, for the diff and the delta
    def remember_payload(
        self, key: str, kind: str, pd_id: int, body: dict[str, Any], run_id: int
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO payloads VALUES (?, ?, ?, ?, ?)",
            (key, kind, pd_id, json.dumps(body, sort_keys=True, default=str), run_id),
        )

    def payload(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT body FROM payloads WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def payloads(self, run_id: int | None = None) -> list[tuple[str, str, int, dict[str, Any]]]:
        """(key, kind, pd_id, body) of records still mapped, optionally those one run wrote."""
        sql = "SELECT p.key, p.kind, p.pd_id, p.body FROM payloads p JOIN idmap i ON i.key = p.key"
        rows = self.db.execute(
            sql + (" WHERE p.run_id=? ORDER BY p.rowid" if run_id else " ORDER BY p.rowid"),
            (run_id,) if run_id else (),
        )
        return [(k, kind, int(i), json.loads(b)) for k, kind, i, b in rows]

    def mapped_keys(self) -> list[tuple[str, str, int, bool]]:
        """Every (key, kind, pd_id, created) in the ID map."""
        rows = self.db.execute("SELECT key, kind, pd_id, created FROM idmap ORDER BY rowid")
        return [(k, kind, int(i), bool(c)) for k, kind, i, c in rows]

    # verification results: the gate before the full run
    def record_check(
        self, run_id: int, kind: str, fields: int, differences: int, records: int
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, kind, now(), fields, differences, records),
        )

    def record_losses(self, run_id: int, losses: list[dict[str, Any]]) -> None:
        """The losses over the limit a check measured from the source (accepted or not)."""
        self.db.execute(
            "INSERT OR REPLACE INTO check_losses VALUES (?, ?)", (run_id, json.dumps(losses))
        )

    def losses(self, run_id: int) -> list[dict[str, Any]]:
        row = self.db.execute("SELECT data FROM check_losses WHERE run_id=?", (run_id,)).fetchone()
        return list(json.loads(row[0])) if row else []

    def last_check(self, kind: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT run_id, checked, fields, differences, records FROM checks WHERE kind=? "
            "ORDER BY checked DESC LIMIT 1",
            (kind,),
        ).fetchone()
        if row is None:
            return None
        cols = ("run_id", "checked", "fields", "differences", "records")
        return dict(zip(cols, row, strict=True))

    def last_run(self, kind: str) -> dict[str, Any] | None:
        found = [r for r in self.runs() if r["kind"] == kind]
        return found[-1] if found else None

    # the account before the migration
    def save_snapshot(self, data: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO snapshot VALUES (1, ?, ?)", (now(), json.dumps(data))
        )

    def snapshot(self) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM snapshot WHERE id=1").fetchone()
        return json.loads(row[0]) if row else None
