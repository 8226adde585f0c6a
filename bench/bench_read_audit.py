"""Generate an MDC export (or reuse one), then time reading + auditing it.

Prints source rows per second and peak memory of the read + audit, and beside them a bare
``csv.reader`` pass over the same files in the same run (each file decoded as the reader decodes
it, nothing parsed: the floor any reader in Python stands on). Rates are given by wall clock and
by CPU time of this process (steadier on a shared machine). Goal: >= 50,000 rows/s on one core
and peak memory under 300 MB whatever the export size.

Before the timed run the process reads + audits a small export of its own (``--warmup``
patients, another seed): what a process pays once (modules imported on first use, the codec
tables charset-normalizer loads for a legacy encoding) is not counted against each row. The
warm-up's own figure is printed too; ``--warmup 0`` times a cold process.

    python bench/bench_read_audit.py --patients 20000
    python bench/bench_read_audit.py --patients 200000 --cache /tmp/mdc-200k   # reused next time
    python bench/bench_read_audit.py --patients 5000 --tracemalloc              # Python heap peak

Generation runs in a child process so its memory does not count against the audit's peak.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from flitstack.settings import Settings
from flitstack.source.audit import audit_export
from flitstack.source.generator import INJECTIONS_FILE, generate_export
from flitstack.source.reader import open_export


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _generated(out: Path, patients: int, seed: int) -> bool:
    """True when ``out`` already holds an export generated with these parameters."""
    record = out / INJECTIONS_FILE
    if not record.is_file():
        return False
    data = json.loads(record.read_text())
    return bool(data.get("patients") == patients and data.get("seed") == seed)


def generate_apart(out: Path, patients: int, seed: int) -> None:
    """Generate an export in a child process (its memory is not this process's peak)."""
    child = multiprocessing.Process(target=generate_export, args=(out, patients, seed))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"generation failed (exit code {child.exitcode})")


def ensure_export(out: Path, patients: int, seed: int) -> None:
    if _generated(out, patients, seed):
        print(f"reusing the export of {patients:,} patients in {out}")
        return
    started = time.perf_counter()
    generate_apart(out, patients, seed)
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"generated {patients:,} patients in {time.perf_counter() - started:.1f} s into {out} "
        f"(generator peak RSS {child_peak:.0f} MB)"
    )


def bare_csv_pass(out: Path) -> tuple[int, float, float]:
    """Records, wall seconds and CPU seconds of a bare ``csv.reader`` pass over the export's
    CSV files, each decoded in the encoding the reader detects (detection not timed)."""
    with open_export(out) as export:
        members = [export._find(stem) or stem for stem in export.csv_files()]
        files = [(member, export._encoding(member)) for member in members]
        wall, cpu, records = time.perf_counter(), time.process_time(), 0
        for member, encoding in files:
            with export._open_binary(member) as raw:
                text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
                for _ in csv.reader(text, strict=True):
                    records += 1
        return records, time.perf_counter() - wall, time.process_time() - cpu


def warm_up(patients: int, seed: int) -> None:
    """Read + audit a small export once, so the timed run measures rows, not first use."""
    if patients <= 0:
        return
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "warm-up"
        generate_apart(small, patients, seed)
        started, cpu = time.perf_counter(), time.process_time()
        with open_export(small) as export:
            report = audit_export(export, Settings())
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"warm-up: {patients} patients ({report.rows_read:,} rows) read + audited in "
        f"{elapsed:.2f} s ({cpu:.2f} s CPU), first use included"
    )


def bench(out: Path, trace: bool) -> None:
    records, bare_wall, bare_cpu = bare_csv_pass(out)
    if trace:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    with open_export(out) as export:
        report = audit_export(export, Settings())
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    read = report.rows_read
    print(f"read + audit: {read:,} source rows in {elapsed:.2f} s ({cpu:.2f} s CPU)")
    print(f"rows per second: {read / elapsed:,.0f} wall, {read / cpu:,.0f} CPU  (goal >= 50,000)")
    print(
        f"bare csv.reader, same files: {records:,} records in {bare_wall:.2f} s "
        f"({bare_cpu:.2f} s CPU): {records / bare_wall:,.0f} wall, {records / bare_cpu:,.0f} CPU "
        f"per second; read + audit takes {cpu / bare_cpu:.1f}x its CPU time"
    )
    print(f"peak RSS of read + audit: {peak_rss_mb():.0f} MB  (goal < 300)")
    if trace:
        _, heap_peak = tracemalloc.get_traced_memory()
        print(f"peak Python heap (tracemalloc, slows the run): {heap_peak / 2**20:.0f} MB")
    damage = report.damage
    print(f"problems: {sum(report.problem_totals().values()):,}")
    print(f"damage: {damage.as_mess_counts()}, orphans: {damage.orphan_references}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--cache", type=Path, help="export folder to reuse (generated there when absent)"
    )
    parser.add_argument("--tracemalloc", action="store_true", help="also report the heap peak")
    parser.add_argument(
        "--warmup", type=int, default=50, help="patients of the warm-up export (0: none)"
    )
    args = parser.parse_args()
    warm_up(args.warmup, args.seed + 1)

    if args.cache is not None:
        ensure_export(args.cache, args.patients, args.seed)
        bench(args.cache, args.tracemalloc)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "export"
        ensure_export(out, args.patients, args.seed)
        bench(out, args.tracemalloc)


if __name__ == "__main__":
    main()
