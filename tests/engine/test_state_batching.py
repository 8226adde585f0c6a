"""The state store's write protocol: intents committed before the request, the rest batched."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from flitstack.engine.state import StateStore


def _outside(path: Path, sql: str) -> list[tuple[object, ...]]:
    """What another process would read: a fresh connection sees committed data only."""
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _mapped(path: Path) -> set[str]:
    return {str(r[0]) for r in _outside(path, "SELECT key FROM idmap")}


def test_a_committed_intent_survives_kill_9_and_the_open_batch_does_not(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    child = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from flitstack.engine.state import StateStore

        s = StateStore(Path({str(path)!r}))
        run = s.start_run("migrate")
        s.intend("patients:1", "persons")
        s.audit(run, "POST", "/v2/persons", "persons", "patients:1", 11, "ok", 10)
        s.record("patients:1", "persons", 11, True, run)
        s.remember_payload("patients:1", "persons", 11, {{"name": "A"}}, run)
        s.intend("patients:2", "persons")  # commits patients:1's answer with it
        s.record("patients:2", "persons", 12, True, run)  # batched: the kill takes it
        assert s.pending and s.pd_id("patients:2") == 12  # its own connection sees it
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    s = StateStore(path)
    try:
        assert s.pd_id("patients:1") == 11 and not s.has_intent("patients:1")
        assert s.payload("patients:1") == {"name": "A"}
        assert len(s.audit_rows()) == 1
        # the second create's answer was lost with the batch, its intent was not: the next
        # run looks the record up by its key before creating anything
        assert s.pd_id("patients:2") is None and s.has_intent("patients:2")
    finally:
        s.close()


def test_writes_after_an_answer_are_batched_and_intents_are_not(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    s = StateStore(path, batch_records=1000, batch_ms=60_000)
    run = s.start_run("migrate")
    for i in range(20):
        s.record(f"k:{i}", "persons", i, False, run)  # matched records: no intent, no create
        s.audit(run, "PATCH", f"/v2/persons/{i}", "persons", f"k:{i}", i, "ok", 10)
    assert s.pending == 60
    assert _mapped(path) == set()  # nothing committed yet
    assert s.counts() == {"persons": {"matched": 20}}  # but this connection sees it all
    commits = s.commits
    s.intend("k:new", "persons")
    assert s.commits == commits + 1 and s.pending == 0
    assert len(_mapped(path)) == 20
    assert _outside(path, "SELECT key FROM intents") == [("k:new",)]
    s.close()


def test_a_batch_is_committed_every_n_records(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    s = StateStore(path, batch_records=5, batch_ms=60_000)
    for i in range(12):
        s.record(f"k:{i}", "persons", i, True, 1)
    assert len(_mapped(path)) == 10 and s.pending == 4  # two batches of five; two rows waiting
    s.close()
    assert len(_mapped(path)) == 12  # close commits the rest


def test_a_batch_is_committed_after_t_ms_on_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    s = StateStore(path, batch_records=1000, batch_ms=50)

    async def go() -> None:
        s.record("k:1", "persons", 1, True, 1)
        assert _mapped(path) == set()
        await asyncio.sleep(0.2)  # nothing else written: the timer commits it
        assert _mapped(path) == {"k:1"}

    asyncio.run(go())
    s.close()


def test_a_batch_is_flushed_before_another_store_reads_or_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    writer = StateStore(path, batch_records=1000, batch_ms=60_000)
    writer.record("k:1", "persons", 1, True, 1)
    writer.note_outcome(1, "patients", "7", 3, "", "rejected", "no name")
    reader = StateStore(path)  # e.g. the run report, or a test, reading "the state"
    assert reader.pd_id("k:1") == 1
    writer.record("k:2", "persons", 2, True, 1)
    assert reader.mapped_keys()[-1][0] == "k:2"  # flushed again before this read
    writer.audit(1, "POST", "/v2/persons", "persons", "k:3", 3, "ok", 10)
    reader.start_run("report")  # would wait on the writer's lock without the flush
    assert writer.pending == 0 and len(reader.outcomes()) == 1
    reader.close()
    writer.close()


def test_before_images_setup_and_snapshots_commit_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    s = StateStore(path, batch_records=1000, batch_ms=60_000)
    s.keep_before_image("persons", 5, {"name": "Before"})  # kept before the PATCH is sent
    s.remember_setup("field", "person:MDC ID", "abc", {"target": "person"}, True)
    s.save_snapshot({"persons": []})
    assert s.pending == 0
    assert _outside(path, "SELECT count(*) FROM before_images") == [(1,)]
    assert _outside(path, "SELECT count(*) FROM setup") == [(1,)]
    s.close()


def test_a_store_dropped_unclosed_commits_its_batch(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    s = StateStore(path, batch_records=1000, batch_ms=60_000)
    s.record("k:1", "persons", 1, True, 1)
    del s
    gc.collect()
    assert _mapped(path) == {"k:1"}


def test_wal_with_synchronous_normal(tmp_path: Path) -> None:
    s = StateStore(tmp_path / "state.sqlite")
    assert s.db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert s.db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    s.close()
    s = StateStore(tmp_path / "state.sqlite", power_safe=True)
    assert s.db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    s.close()
