"""The migration project's memory: one SQLite file, owner-only.

It holds the source ↔ Pipedrive ID map, write intents (so a killed run knows which creates
may have happened), the audit log of every write, before-images of records the migration
changed but did not create, the setup it made, and what was rejected or skipped and why.

Durability, and why most writes are batched
-------------------------------------------
The file is in WAL mode with ``synchronous=NORMAL``: a commit appends to the write-ahead log
without an fsync. A committed transaction therefore survives the *process* dying at any instant
(``kill -9``, a crash, Ctrl-C: the log is in the operating system's page cache, and the next open
replays it), but not a power loss or a kernel crash, which can take the last commits with it
(the file stays consistent: it goes back to an earlier commit). Losing a committed intent whose
request had gone out is the one way that could duplicate a record, so on a machine where power
loss matters, ``power_safe=True`` makes every commit fsync (``synchronous=FULL``); the batching
below keeps that to about one fsync per record created (the intent's) instead of five.

Exactly-once rests on one ordering: **a create's intent is committed before its request is
sent**. :meth:`StateStore.intend` commits at once (with anything batched before it), and so do
the few writes that must precede a request or gate a step: runs, the account snapshot, setup
items, before-images (kept before the PATCH that changes the record), checks and losses.

Everything written *after* an answer — the ID map entry (which clears the intent), its payload,
the audit line, a row's outcome, a row hash — joins one open transaction that is committed when
it holds :data:`BATCH_RECORDS` records (or :data:`BATCH_WRITES` statements), when it is
:data:`BATCH_MS` old (a timer on the running event loop, and a check on every write), with the
next immediate write, by :meth:`StateStore.flush`, and when the store is closed, collected or
the interpreter exits. A process killed with a batch open loses that batch, never more:

- a record whose answer was lost this way still has its committed intent, so the next run looks
  it up by its ``MDC`` key (``Migration._find_existing``: search by the source-ID custom field for
  persons, organizations and deals; the ``MDC ref`` marker in the person's activities and notes;
  the person's files for files) and records what it finds instead of creating it again;
- a record matched to one the account already had (no intent, no create) is matched again;
- a delta's PATCH or a rollback's DELETE is repeated (both are idempotent);
- the audit log can miss the lines of that last batch (the records themselves are recovered).

Reads on this connection see the open batch (SQLite shows a connection its own transaction).
Another ``StateStore`` opened on the same file in the same process flushes this one's batch
before it reads or writes (so a report or a test reading "the state" sees every record, and two
stores never wait on each other's write lock); another process sees the batch once committed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
import weakref
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

#: A batch is committed once it holds this many records (ID map entries) ...
BATCH_RECORDS = 64
#: ... or this many statements of any kind (outcomes and audit lines come without records) ...
BATCH_WRITES = 512
#: ... or once it is this old (milliseconds).
BATCH_MS = 200.0

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
    """All engine state. Writes that must precede a request commit at once; the rest are batched
    (see the module's docstring for what a kill can and cannot lose)."""

    #: Transactions committed by every store of this process (for benches).
    all_commits: ClassVar[int] = 0

    def __init__(
        self,
        path: Path,
        *,
        batch_records: int = BATCH_RECORDS,
        batch_ms: float = BATCH_MS,
        power_safe: bool = False,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        self.path = path
        self._file = os.path.realpath(path)
        self._closed = False
        self.batch_records, self.batch_seconds = batch_records, batch_ms / 1000
        self._records = self._writes = 0  # in the open batch
        self._opened = 0.0  # when the open batch began (monotonic)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self.commits = 0  # transactions committed by this store
        self._flush_others()
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if fresh:
            os.chmod(path, 0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if power_safe else 'NORMAL'}")
        self.db.executescript(SCHEMA)
        # commits an open batch if the store is dropped unclosed, or at interpreter exit
        self._finalizer = weakref.finalize(self, _commit_and_close, self.db)
        _OPEN.add(self)

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        _OPEN.discard(self)
        self._finalizer()

    # --- the write protocol ---------------------------------------------------------------------
    def flush(self) -> None:
        """Commit the open batch, if any."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_loop = None
        if self._closed or not self.db.in_transaction:
            return
        self.db.execute("COMMIT")
        self.commits += 1
        StateStore.all_commits += 1
        self._records = self._writes = 0

    @property
    def pending(self) -> int:
        """Statements written but not yet committed."""
        return self._writes

    def _begin(self) -> None:
        self._flush_others()
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
            self._opened = time.monotonic()

    def _now(self, sql: str, params: Iterable[Any] = ()) -> int:
        """A write committed before this returns (with the batch before it); its row id."""
        self._begin()
        cur = self.db.execute(sql, tuple(params))
        self._writes += 1
        self.flush()
        return int(cur.lastrowid or 0)

    def _later(self, *statements: tuple[str, Iterable[Any]], records: int = 0) -> None:
        """Writes that join the open batch (together: they commit, or are lost, as one)."""
        self._begin()
        for sql, params in statements:
            self.db.execute(sql, tuple(params))
        self._writes += len(statements)
        self._records += records
        if (
            self._records >= self.batch_records
            or self._writes >= BATCH_WRITES
            or time.monotonic() - self._opened >= self.batch_seconds
        ):
            self.flush()
        else:
            self._arm_timer()

    def _arm_timer(self) -> None:
        """Commit the batch after ``batch_ms`` even if nothing else is written meanwhile."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop here: the check on each write and close() remain
            return
        if self._timer is not None and self._timer_loop is loop:
            return
        self._timer_loop = loop
        self._timer = loop.call_later(self.batch_seconds, self.flush)

    def _flush_others(self) -> None:
        """Commit the batch of any other store of this process on the same file, so what it
        wrote is seen here and its write lock does not block this one."""
        for other in list(_OPEN) if _OPEN else ():
            if other is not self and other._writes and other._file == self._file:
                other.flush()

    def _q(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        """A read (this connection sees its own open batch; other stores' are flushed)."""
        self._flush_others()
        return self.db.execute(sql, tuple(params))

    # runs
    def start_run(self, kind: str) -> int:
        return self._now(
            "INSERT INTO runs (kind, started, status) VALUES (?, ?, 'running')", (kind, now())
        )

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any]) -> None:
        self._now(
            "UPDATE runs SET finished=?, status=?, summary=? WHERE id=?",
            (now(), status, json.dumps(summary), run_id),
        )

    def runs(self) -> list[dict[str, Any]]:
        rows = self._q("SELECT id, kind, started, finished, status, summary FROM runs")
        return [
            dict(zip(("id", "kind", "started", "finished", "status", "summary"), r, strict=True))
            for r in rows
        ]

    # id map and intents
    def pd_id(self, key: str) -> int | None:
        row = self._q("SELECT pd_id FROM idmap WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else None

    def mapping(self, key: str) -> dict[str, Any] | None:
        row = self._q(
            "SELECT key, kind, pd_id, created, row_hash, modified FROM idmap WHERE key=?", (key,)
        ).fetchone()
        if row is None:
            return None
        return dict(
            zip(("key", "kind", "pd_id", "created", "row_hash", "modified"), row, strict=True)
        )

    def intend(self, key: str, kind: str) -> None:
        """About to create ``key``: committed before this returns, so before the request."""
        self._now("INSERT OR REPLACE INTO intents VALUES (?, ?, ?)", (key, kind, now()))

    def has_intent(self, key: str) -> bool:
        return self._q("SELECT 1 FROM intents WHERE key=?", (key,)).fetchone() is not None

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
        """The ID map entry, clearing the intent in the same transaction (batched: a kill
        before its commit leaves the intent, and the next run looks the record up)."""
        self._later(
            (
                "INSERT OR REPLACE INTO idmap VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (key, kind, pd_id, int(created), row_hash, modified, run_id),
            ),
            ("DELETE FROM intents WHERE key=?", (key,)),
            records=1,
        )

    def update_hash(self, key: str, row_hash: str, modified: str) -> None:
        self._later(
            ("UPDATE idmap SET row_hash=?, modified=? WHERE key=?", (row_hash, modified, key))
        )

    def created(self, kind: str) -> list[tuple[str, int]]:
        rows = self._q(
            "SELECT key, pd_id FROM idmap WHERE kind=? AND created=1 ORDER BY rowid", (kind,)
        )
        return [(r[0], int(r[1])) for r in rows]

    def forget(self, key: str) -> None:
        self._later(
            ("DELETE FROM idmap WHERE key=?", (key,)),
            ("DELETE FROM payloads WHERE key=?", (key,)),
            records=1,
        )

    def purge_patient_data(self, keys: list[str]) -> None:
        """Erasure: nothing of the forgotten records stays here. Their audit lines keep the
        write and its outcome with the key replaced by ``(forgotten)``; their outcomes,
        payloads, ID map entries and intents are removed (committed before this returns)."""
        statements: list[tuple[str, Iterable[Any]]] = []
        for key in keys:
            file, _, sid = key.partition(":")
            statements += [
                ("UPDATE audit SET source_key='(forgotten)' WHERE source_key=?", (key,)),
                ("DELETE FROM outcomes WHERE file=? AND source_id=?", (file, sid)),
                ("DELETE FROM payloads WHERE key=?", (key,)),
                ("DELETE FROM idmap WHERE key=?", (key,)),
                ("DELETE FROM intents WHERE key=?", (key,)),
            ]
        self._later(*statements)
        self.flush()

    def forget_before_image(self, kind: str, pd_id: int) -> None:
        self._now("DELETE FROM before_images WHERE kind=? AND pd_id=?", (kind, pd_id))

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for kind, created, n in self._q(
            "SELECT kind, created, count(*) FROM idmap GROUP BY kind, created"
        ):
            out.setdefault(kind, {})["created" if created else "matched"] = n
        return out

    def keys_for(self, prefix: str) -> Iterator[tuple[str, int, str, str]]:
        yield from self._q(
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
        self._later(
            (
                "INSERT INTO audit (ts, run_id, method, path, object, source_key, pd_id, "
                "outcome, token_cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now(), run_id, method, path, obj, source_key, pd_id, outcome, cost),
            )
        )

    def audit_rows(self) -> list[dict[str, Any]]:
        cols = ("id", "ts", "run_id", "method", "path", "object", "source_key", "pd_id",
                "outcome", "token_cost")  # fmt: skip
        rows = self._q(f"SELECT {', '.join(cols)} FROM audit ORDER BY id")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    # before-images
    def keep_before_image(self, kind: str, pd_id: int, data: dict[str, Any]) -> None:
        """Committed at once: it is kept before the PATCH that changes the record, and a
        before-image read again after that PATCH would be the changed record."""
        self._now(
            "INSERT OR IGNORE INTO before_images VALUES (?, ?, ?)", (kind, pd_id, json.dumps(data))
        )

    def before_images(self) -> list[tuple[str, int, dict[str, Any]]]:
        rows = self._q("SELECT kind, pd_id, data FROM before_images")
        return [(k, int(i), json.loads(d)) for k, i, d in rows]

    # setup
    def remember_setup(
        self, what: str, name: str, pd_key: str, data: dict[str, Any], created: bool
    ) -> None:
        """Committed at once: a field or pipeline found again by name after a kill would be
        taken for one the account already had (and a rollback would leave it)."""
        self._now(
            "INSERT OR REPLACE INTO setup VALUES (?, ?, ?, ?, ?)",
            (what, name, pd_key, json.dumps(data), int(created)),
        )

    def setup_items(self, what: str) -> dict[str, tuple[str, dict[str, Any], bool]]:
        rows = self._q("SELECT name, pd_key, data, created FROM setup WHERE what=?", (what,))
        return {n: (k, json.loads(d), bool(c)) for n, k, d, c in rows}

    def forget_setup(self, what: str, name: str) -> None:
        self._later(("DELETE FROM setup WHERE what=? AND name=?", (what, name)))

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
        self._later(
            (
                "INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, file, source_id, line, field, outcome, reason),
            )
        )

    def reported_ids(self, file: str) -> set[str]:
        """Source IDs of ``file`` an earlier run rejected or skipped (so not new in a delta)."""
        rows = self._q(
            "SELECT DISTINCT source_id FROM outcomes WHERE file=? AND outcome IN "
            "('rejected', 'skipped')",
            (file,),
        )
        return {r[0] for r in rows}

    def outcomes(self, run_id: int | None = None) -> list[dict[str, Any]]:
        cols = ("run_id", "file", "source_id", "line", "field", "outcome", "reason")
        sql = f"SELECT {', '.join(cols)} FROM outcomes"
        rows = self._q(sql + (" WHERE run_id=?" if run_id else ""), (run_id,) if run_id else ())
        return [dict(zip(cols, r, strict=True)) for r in rows]

    # what was sent: the expected state of every record, for the diff and the delta
    def remember_payload(
        self, key: str, kind: str, pd_id: int, body: dict[str, Any], run_id: int
    ) -> None:
        self._later(
            (
                "INSERT OR REPLACE INTO payloads VALUES (?, ?, ?, ?, ?)",
                (key, kind, pd_id, json.dumps(body, sort_keys=True, default=str), run_id),
            )
        )

    def payload(self, key: str) -> dict[str, Any] | None:
        row = self._q("SELECT body FROM payloads WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def payloads(self, run_id: int | None = None) -> list[tuple[str, str, int, dict[str, Any]]]:
        """(key, kind, pd_id, body) of records still mapped, optionally those one run wrote."""
        sql = "SELECT p.key, p.kind, p.pd_id, p.body FROM payloads p JOIN idmap i ON i.key = p.key"
        rows = self._q(
            sql + (" WHERE p.run_id=? ORDER BY p.rowid" if run_id else " ORDER BY p.rowid"),
            (run_id,) if run_id else (),
        )
        return [(k, kind, int(i), json.loads(b)) for k, kind, i, b in rows]

    def mapped_keys(self) -> list[tuple[str, str, int, bool]]:
        """Every (key, kind, pd_id, created) in the ID map."""
        rows = self._q("SELECT key, kind, pd_id, created FROM idmap ORDER BY rowid")
        return [(k, kind, int(i), bool(c)) for k, kind, i, c in rows]

    # verification results: the gate before the full run
    def record_check(
        self, run_id: int, kind: str, fields: int, differences: int, records: int
    ) -> None:
        self._now(
            "INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, kind, now(), fields, differences, records),
        )

    def record_losses(self, run_id: int, losses: list[dict[str, Any]]) -> None:
        """The losses over the limit a check measured from the source (accepted or not)."""
        self._now("INSERT OR REPLACE INTO check_losses VALUES (?, ?)", (run_id, json.dumps(losses)))

    def losses(self, run_id: int) -> list[dict[str, Any]]:
        row = self._q("SELECT data FROM check_losses WHERE run_id=?", (run_id,)).fetchone()
        return list(json.loads(row[0])) if row else []

    def last_check(self, kind: str) -> dict[str, Any] | None:
        row = self._q(
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
        """Committed at once: taken before the first write, for the rollback proof."""
        self._now("INSERT OR IGNORE INTO snapshot VALUES (1, ?, ?)", (now(), json.dumps(data)))

    def snapshot(self) -> dict[str, Any] | None:
        row = self._q("SELECT data FROM snapshot WHERE id=1").fetchone()
        return json.loads(row[0]) if row else None


#: Open stores of this process (a store flushes the others' batches on the same file).
_OPEN: weakref.WeakSet[StateStore] = weakref.WeakSet()


def _commit_and_close(db: sqlite3.Connection) -> None:
    """A store's last word: commit what it batched, then close (also run at interpreter exit
    for a store never closed)."""
    try:
        if db.in_transaction:
            db.execute("COMMIT")
        db.close()
    except sqlite3.Error:  # closed already, or the file went away: nothing left to keep
        pass
