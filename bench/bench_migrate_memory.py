"""Peak memory of a full migration, small export against ten times larger.

The engine stages the export in SQLite and loads it a chunk of patients at a time, so its peak
memory should barely grow with the export. This runs a full migration (setup + every record) of a
generated export of each size into a sandbox served by a separate process (so the sandbox's own
memory is not counted) and prints the migrating process's peak RSS for each, and their ratio.

    python bench/bench_migrate_memory.py                     # 2,000 and 20,000 patients
    python bench/bench_migrate_memory.py --sizes 200 2000    # a quicker look

Goal (issue 11): the larger at most 1.3x the smaller, and under 400 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path
from typing import Any


def _serve(conn: Any, stop: Any) -> None:
    from flitstack.sandbox.server import SandboxConfig, running_sandbox

    config = SandboxConfig(
        plan="enterprise", seats=10, burst_limit=1_000_000, search_burst_limit=1_000_000,
        daily_budget=10**12,
    )  # fmt: skip
    with running_sandbox(config) as sb:
        conn.send((sb.base_url, sb.api_token))
        stop.wait()


def _migrate(root: str, base_url: str, token: str, conn: Any) -> None:
    """The measured process: only the migration (the map was proposed by another command)."""
    from flitstack.engine.migration import Migration
    from flitstack.engine.state import StateStore
    from flitstack.pipedrive.client import PipedriveClient
    from flitstack.settings import Settings

    settings = Settings(timezone="America/Chicago")
    export = Path(root) / "export"
    workbook = Path(root) / "map.yaml"
    started = time.perf_counter()

    async def go() -> Any:
        async with PipedriveClient(base_url, token) as pd:
            m = Migration(export, workbook, StateStore(Path(root) / "state.sqlite"), pd, settings)
            return await m.migrate()

    summary = asyncio.run(go())
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.send((peak_kb / 1024, sum(summary.created.values()), time.perf_counter() - started,
               summary.unaccounted()))  # fmt: skip


def measure(patients: int, base_url: str, token: str) -> tuple[float, int, float]:
    from flitstack.mapping.confirm import confirm_workbook
    from flitstack.mapping.propose import propose_map
    from flitstack.mapping.workbook import save_workbook
    from flitstack.settings import Settings
    from flitstack.source.generator import generate_export

    with tempfile.TemporaryDirectory(prefix=f"flitstack-mem-{patients}-") as root:
        export = Path(root) / "export"
        generate_export(export, patients, seed=1)
        wb = propose_map(export, Settings(timezone="America/Chicago"))
        confirm_workbook(save_workbook(wb, Path(root) / "map.yaml"), "bench")
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_migrate, args=(root, base_url, token, child))
        proc.start()
        peak, created, seconds, unaccounted = parent.recv()
        proc.join()
        assert not unaccounted, unaccounted
        return peak, created, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs=2, default=[2000, 20000])
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    stop = ctx.Event()
    server = ctx.Process(target=_serve, args=(child, stop), daemon=True)
    server.start()
    base_url, token = parent.recv()
    try:
        small, large = args.sizes
        rows = []
        for n in (small, large):
            peak, created, seconds = measure(n, base_url, token)
            rows.append((n, peak, created, seconds))
            print(f"{n:>7,} patients: {created:>9,} records in {seconds:7.1f} s, "
                  f"peak RSS {peak:6.1f} MB", flush=True)  # fmt: skip
        ratio = rows[1][1] / rows[0][1]
        print(f"peak RSS ratio {large:,} / {small:,} patients: {ratio:.2f}x "
              f"(goal <= 1.3x and < 400 MB)")  # fmt: skip
    finally:
        stop.set()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
