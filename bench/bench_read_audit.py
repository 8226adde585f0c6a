"""Generate an MDC export (or reuse one), then time reading + auditing it.

Prints source rows per second and peak memory of the read + audit. Goal: >= 50,000 rows/s on
one core and peak memory under 300 MB whatever the export size.

    python bench/bench_read_audit.py --patients 20000
    python bench/bench_read_audit.py --patients 200000 --cache /tmp/mdc-200k   # reused next time
    python bench/bench_read_audit.py --patients 5000 --tracemalloc              # Python heap peak

Generation runs in a child process so its memory does not count against the audit's peak.
"""

from __future__ import annotations

import argparse
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


def ensure_export(out: Path, patients: int, seed: int) -> None:
    if _generated(out, patients, seed):
        print(f"reusing the export of {patients:,} patients in {out}")
        return
    started = time.perf_counter()
    child = multiprocessing.Process(target=generate_export, args=(out, patients, seed))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"generation failed (exit code {child.exitcode})")
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"generated {patients:,} patients in {time.perf_counter() - started:.1f} s into {out} "
        f"(generator peak RSS {child_peak:.0f} MB)"
    )


def bench(out: Path, trace: bool) -> None:
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    with open_export(out) as export:
        report = audit_export(export, Settings())
    elapsed = time.perf_counter() - started
    read = report.rows_read
    print(f"read + audit: {read:,} source rows in {elapsed:.1f} s")
    print(f"rows per second: {read / elapsed:,.0f}  (goal >= 50,000)")
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
    args = parser.parse_args()

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
