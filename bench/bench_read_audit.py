"""Generate a large MDC export, then time reading + auditing it.

Prints source rows per second and peak memory (RSS). Goal: >= 50,000 rows/s on one core and
peak memory under 300 MB whatever the export size.

    python bench/bench_read_audit.py --patients 200000
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

from flitstack.settings import Settings
from flitstack.source.audit import audit_export
from flitstack.source.generator import generate_export
from flitstack.source.reader import open_export


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="write the export here instead of a temp dir")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "export"
        started = time.perf_counter()
        # Generate in a child process so its memory does not count against the reader's peak.
        job = (out, args.patients, args.seed)
        child = multiprocessing.Process(target=generate_export, args=job)
        child.start()
        child.join()
        print(f"generated {args.patients:,} patients in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        with open_export(out) as export:
            report = audit_export(export, Settings())
        elapsed = time.perf_counter() - started
        read = report.rows_read
        print(f"read + audit: {read:,} source rows in {elapsed:.1f} s")
        print(f"rows per second: {read / elapsed:,.0f}  (goal >= 50,000)")
        print(f"peak RSS of read + audit: {peak_rss_mb():.0f} MB  (goal < 300)")


if __name__ == "__main__":
    main()
