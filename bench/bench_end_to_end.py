"""Setup + full migration of a generated export against the sandbox at a realistic latency, against
the plan's rate ceiling; and a naive sequential loader in the same run, for comparison.

The sandbox runs in its own process (so it takes no CPU from the migration), on the chosen plan
with the chosen added latency. The migration goes through :class:`flitstack.api.Migrator`, as the
command line does. Printed:

- wall time of setup + migrate, the requests the sandbox answered, and how many were 429s;
- the lower bound: requests (less the 429s) ÷ the plan's rate ceiling (burst per 2 s), and the
  ratio wall ÷ lower bound (1.0 would be a run at the ceiling from first request to last; goal
  ≤ 1.10), and the share of requests answered 429 (goal < 0.1%);
- the state file's commits per record created;
- a naive loader: one request at a time through httpx, creating the same persons, deals and
  notes again (the bodies flitstack sent, IDs remapped), its rate, and how long it would take
  for as many requests as flitstack made.

    python bench/bench_end_to_end.py                                  # 300 patients, 150 ms
    python bench/bench_end_to_end.py --patients 50 --latency 0.15     # a quicker look

The map is confirmed with the protection profile's proposals (profile "other": every category
is sent), so the run writes everything the export holds.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx


def _serve(conn: Any, config: Any) -> None:
    """The sandbox process: serve until told to stop; answer "stats" with its counters."""
    from flitstack.sandbox.server import running_sandbox

    with running_sandbox(config) as sb:
        conn.send((sb.base_url, sb.api_token))
        while (command := conn.recv()) != "stop":
            if command == "stats":
                conn.send(sb.stats())


def _requests(stats: dict[str, Any]) -> tuple[int, int]:
    """(requests answered, of which 429)."""
    return int(stats.get("requests", 0)), int(
        stats.get("429_burst", 0) + stats.get("429_budget", 0)
    )


def migrate(
    root: Path, export: Path, base_url: str, token: str, plan: str, seats: int
) -> tuple[Path, float, float]:
    """Setup + migrate through the library, as ``flitstack setup`` and ``flitstack migrate``:
    the state file, the seconds of setup and of setup + migrate (the map proposed and confirmed
    before, untimed: it sends no request)."""
    from flitstack.api import Migrator
    from flitstack.project import write_project_file

    project = write_project_file(
        root / "flitstack.toml", "sandbox", timezone="America/Chicago", plan=plan, seats=seats
    )
    m = Migrator(project, token=token, api_root=base_url)
    m.propose(export)
    m.confirm("bench", protection_as_proposed=True)
    started = time.perf_counter()
    m.setup(export)
    setup = time.perf_counter() - started
    summary = m.migrate(export, skip_sample_gate=True)
    wall = time.perf_counter() - started
    assert not summary.unaccounted(), summary.unaccounted()
    return m.project.state, setup, wall


def naive(state_path: Path, base_url: str, token: str) -> tuple[int, float, dict[str, int]]:
    """One request at a time: the persons, deals and notes flitstack created, created again."""
    from flitstack.engine.state import StateStore

    state = StateStore(state_path)
    payloads = state.payloads()
    state.close()
    people: dict[int, int] = {}
    deals: dict[int, int] = {}
    made = {"persons": 0, "deals": 0, "notes": 0}
    sent = 0

    def post(client: httpx.Client, path: str, body: dict[str, Any]) -> int:
        nonlocal sent
        while True:
            sent += 1
            r = client.post(path, json=body)
            if r.status_code == 429:  # a sequential loader rarely meets one; wait as told
                time.sleep(float(r.headers.get("retry-after", "1")))
                continue
            r.raise_for_status()
            return int(r.json()["data"]["id"])

    started = time.perf_counter()
    with httpx.Client(base_url=base_url, headers={"x-api-token": token}, timeout=60) as client:
        for kind in ("persons", "deals", "notes"):
            for _key, k, pd_id, body in payloads:
                if k != kind:
                    continue
                body = dict(body)
                if body.get("person_id") is not None:
                    body["person_id"] = people.get(body["person_id"], body["person_id"])
                if body.get("deal_id") is not None:
                    body["deal_id"] = deals.get(body["deal_id"], body["deal_id"])
                if kind == "notes":
                    post(client, "/v1/notes", body)
                else:
                    new = post(client, f"/v2/{kind}", body)
                    (people if kind == "persons" else deals)[pd_id] = new
                made[kind] += 1
    return sent, time.perf_counter() - started, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.15, help="added latency, seconds")
    parser.add_argument("--jitter", type=float, default=0.0, help="added jitter, seconds")
    parser.add_argument("--plan", default="professional")
    parser.add_argument("--seats", type=int, default=5)
    parser.add_argument("--no-naive", action="store_true", help="skip the naive loader")
    args = parser.parse_args()

    from flitstack.engine.state import StateStore
    from flitstack.pipedrive.plans import WINDOW_SECONDS, burst_limit
    from flitstack.sandbox.config import SandboxConfig
    from flitstack.source.generator import generate_export

    config = SandboxConfig(
        plan=args.plan, seats=args.seats,
        latency_ms=args.latency * 1000, latency_jitter_ms=args.jitter * 1000,
    )  # fmt: skip
    ceiling = burst_limit(args.plan) / WINDOW_SECONDS
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child, config), daemon=True)
    server.start()
    base_url, token = parent.recv()
    try:
        with tempfile.TemporaryDirectory(prefix="flitstack-e2e-") as tmp:
            root = Path(tmp)
            export = root / "export"
            generate_export(export, args.patients, seed=1)
            commits = StateStore.all_commits
            state_path, setup, wall = migrate(root, export, base_url, token, args.plan, args.seats)
            commits = StateStore.all_commits - commits
            parent.send("stats")
            requests, throttled = _requests(parent.recv())
            store = StateStore(state_path)
            created = sum(v.get("created", 0) for v in store.counts().values())
            store.close()
            bound = (requests - throttled) / ceiling
            print(f"{args.patients} patients, plan {args.plan} (ceiling {ceiling:.0f} req/s), "
                  f"added latency {args.latency * 1000:.0f} ms")  # fmt: skip
            print(f"flitstack setup + migrate: wall {wall:.1f} s (setup {setup:.1f} s), "
                  f"{requests:,} requests, {created:,} records created")  # fmt: skip
            print(f"  lower bound (requests - 429s) / ceiling: {bound:.1f} s; "
                  f"wall / lower bound = {wall / bound:.2f} (goal <= 1.10)")  # fmt: skip
            print(f"  429 answers: {throttled} = {throttled / max(requests, 1):.2%} of requests "
                  "(goal < 0.1%)")  # fmt: skip
            print(f"  state commits: {commits:,} = {commits / max(created, 1):.2f} per record")
            if not args.no_naive:
                sent, seconds, made = naive(state_path, base_url, token)
                rate = sent / seconds
                print(f"naive sequential loader: {sent:,} requests ({made['persons']} persons, "
                      f"{made['deals']} deals, {made['notes']} notes) in {seconds:.1f} s "
                      f"= {rate:.1f} req/s")  # fmt: skip
                print(
                    f"  at that rate flitstack's {requests:,} requests would take "
                    f"{requests / rate:.1f} s ({requests / rate / wall:.1f}x flitstack's wall)"
                )
    finally:
        parent.send("stop")
        server.join(timeout=15)


if __name__ == "__main__":
    main()
