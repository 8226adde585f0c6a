"""Push person creates through the client into the sandbox at a realistic latency and plan.

Prints the achieved request rate as a fraction of the plan's burst ceiling and the 429 count.
Goal: >= 90% of the ceiling with < 1% of requests answered 429.

    python bench/bench_client.py --creates 5000 --latency-ms 150 --plan professional
"""

from __future__ import annotations

import argparse
import asyncio
import time

from flitstack.pipedrive.client import PipedriveClient
from flitstack.sandbox.server import PLAN_BURST, WINDOW_SECONDS, SandboxConfig, running_sandbox


async def push(base_url: str, token: str, creates: int, concurrency: int) -> tuple[float, int]:
    async with PipedriveClient(base_url, token) as pd:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await pd.create("persons", {"name": f"Bench Person {i}"})

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(creates)))
        return time.monotonic() - started, pd.governor.throttled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--jitter-ms", type=float, default=50.0)
    parser.add_argument("--plan", default="professional", choices=sorted(PLAN_BURST))
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    config = SandboxConfig(
        plan=args.plan, latency_ms=args.latency_ms, latency_jitter_ms=args.jitter_ms, seats=50
    )
    with running_sandbox(config) as sb:
        elapsed, _throttled = asyncio.run(
            push(sb.base_url, sb.api_token, args.creates, args.concurrency)
        )
        stats = sb.stats()
    ceiling = config.burst() / WINDOW_SECONDS
    rate = args.creates / elapsed
    answered_429 = stats.get("429_burst", 0) + stats.get("429_budget", 0)
    print(f"plan {args.plan}: ceiling {ceiling:.0f} req/s, latency {args.latency_ms:.0f} ms")
    print(f"{args.creates:,} creates in {elapsed:.1f} s = {rate:.1f} req/s")
    print(f"fraction of ceiling: {rate / ceiling:.1%}  (goal >= 90%)")
    total = stats.get("requests", 0)
    print(f"429 answers: {answered_429} of {total} requests = {answered_429 / max(total, 1):.2%}")


if __name__ == "__main__":
    main()
