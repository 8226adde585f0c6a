"""The rate governor paces at the burst limit itself: a slot is held until 2 s after its
request's estimated arrival (its send plus its excess round trip), the headroom adapts from
``x-ratelimit-remaining`` (requests the server counted that the governor did not send) and from
429s, and the search API's window is paced the same way on its own."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx
import pytest

from flitstack.pipedrive import governor as gov_module
from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.governor import (
    CALM_PER_LIMIT,
    FOREIGN_HOLD,
    GUARD_MIN,
    TRUST_PER_LIMIT,
    WINDOW,
    RateGovernor,
    Slot,
)
from flitstack.sandbox.server import SandboxConfig, running_sandbox


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(gov_module, "time", SimpleNamespace(monotonic=c.monotonic))
    return c


def headers(limit: int, remaining: int) -> dict[str, str]:
    return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(remaining)}


async def admitted(gov: RateGovernor, search: bool = False) -> Slot | None:
    """A slot if one is free now; None when the governor makes the request wait."""
    try:
        return await asyncio.wait_for(gov.acquire(search), 0.05)
    except TimeoutError:
        return None


def answer(gov: RateGovernor, slot: Slot, at: float, clock: Clock, **hdrs: str) -> None:
    """The answer to ``slot`` arrives at ``at`` with these headers (as the client reports it)."""
    clock.t = at
    gov.release(slot)
    gov.observe(hdrs, 1)


async def warm(gov: RateGovernor, clock: Clock, trip: float = 0.15) -> None:
    """Answers enough requests at ``trip`` for the governor to trust its shortest round trip
    (until then it holds slots longer: safe, not exact); leaves every slot free."""
    for _ in range((TRUST_PER_LIMIT + 1) * gov.limit):
        slot = await admitted(gov)
        assert slot is not None
        answer(gov, slot, clock.t + trip, clock, **headers(gov.limit, gov.limit - 1))
        clock.t += WINDOW + 1
    clock.t += 2 * WINDOW + 1


def test_a_slot_frees_two_seconds_after_its_send_plus_its_excess_round_trip(
    clock: Clock,
) -> None:
    async def go() -> None:
        gov = RateGovernor(initial_limit=2)
        await warm(gov, clock)  # 150 ms is the shortest round trip
        start = clock.t
        fast = await admitted(gov)
        slow = await admitted(gov)
        assert fast and slow and await admitted(gov) is None  # the window is full
        answer(gov, fast, start + 0.15, clock, **headers(2, 1))
        answer(gov, slow, start + 0.40, clock, **headers(2, 0))  # 250 ms of excess
        clock.t = start + WINDOW - 0.01
        assert await admitted(gov) is None
        # 2 s after the fast one left (not after its answer, not after its midpoint) it is free
        clock.t = start + WINDOW + 2 * GUARD_MIN
        assert await admitted(gov) is not None
        assert await admitted(gov) is None  # the slow one arrived up to 250 ms later
        clock.t = start + WINDOW + 0.25 - 0.01
        assert await admitted(gov) is None
        clock.t = start + WINDOW + 0.25 + 2 * GUARD_MIN
        assert await admitted(gov) is not None

    asyncio.run(go())


def test_until_the_round_trip_is_known_a_slot_is_held_two_seconds_after_its_answer(
    clock: Clock,
) -> None:
    """The server counts a request before it answers: a fresh governor is never early."""

    async def go() -> None:
        gov = RateGovernor(initial_limit=1)
        start = clock.t
        slot = await admitted(gov)
        assert slot is not None
        answer(gov, slot, start + 0.15, clock, **headers(1, 0))
        clock.t = start + WINDOW + 0.1
        assert await admitted(gov) is None
        clock.t = start + 0.15 + WINDOW + 2 * GUARD_MIN
        assert await admitted(gov) is not None

    asyncio.run(go())


def test_requests_the_server_counted_but_the_governor_did_not_send_hold_slots(
    clock: Clock,
) -> None:
    """``x-ratelimit-remaining`` says the window holds more than the governor sent (another
    process on the same token): as many slots are held until the window has moved on."""

    async def go() -> None:
        gov = RateGovernor(initial_limit=10)
        await warm(gov, clock, trip=0.1)
        start = clock.t
        mine = [await admitted(gov) for _ in range(3)]
        for i, slot in enumerate(mine):
            assert slot is not None
            # the server holds 6 after the third: three it counted came from elsewhere
            answer(gov, slot, start + 0.1, clock, **headers(10, 9 - i if i < 2 else 4))
        assert gov.foreign == 3
        more = [await admitted(gov) for _ in range(5)]
        assert sum(s is not None for s in more) == 4  # 10 - 3 mine - 3 foreign
        # they expire with the answer that revealed them (a little later: what takes their
        # place on the server is seen only with the next answer)
        clock.t = start + 0.1 + WINDOW + FOREIGN_HOLD + 0.01
        assert await admitted(gov) is not None

    asyncio.run(go())


def test_a_429_adds_headroom_that_a_long_calm_gives_back(clock: Clock) -> None:
    async def go() -> None:
        gov = RateGovernor(initial_limit=8)
        assert gov.headroom == 0
        slot = await admitted(gov)
        assert slot is not None
        answer(gov, slot, clock.t + 0.1, clock, **headers(8, 0))
        gov.pause(0.0)  # the client saw a 429: everyone waits its Retry-After (none here)
        assert (gov.throttled, gov.headroom) == (1, 1)
        assert await admitted(gov) is None  # the server said its window was full
        clock.t += WINDOW + FOREIGN_HOLD + 0.5
        # the refused request was never counted: it holds no slot; the headroom does
        taken = [await admitted(gov) for _ in range(8)]
        assert sum(s is not None for s in taken) == 7
        for s in taken[:7]:
            assert s is not None
            answer(gov, s, clock.t + 0.1, clock, **headers(8, 1))
        for _ in range(CALM_PER_LIMIT * 8):
            clock.t += WINDOW + 0.5
            s = await admitted(gov)
            assert s is not None
            answer(gov, s, clock.t + 0.1, clock, **headers(8, 7))
        assert gov.headroom == 0

    asyncio.run(go())


def test_the_search_window_is_its_own_and_learns_its_own_limit(clock: Clock) -> None:
    async def go() -> None:
        gov = RateGovernor(initial_limit=80, search_limit=4)
        searches = [await admitted(gov, search=True) for _ in range(5)]
        assert [s is not None for s in searches] == [True] * 4 + [False]
        # a waiting search holds up no other request
        assert all([await admitted(gov) for _ in range(20)])
        slot = searches[0]
        assert slot is not None
        answer(gov, slot, clock.t + 0.2, clock, **headers(10, 9))
        assert (gov.search_limit, gov.limit) == (10, 80)  # each window learns from its own

    asyncio.run(go())


def test_against_the_sandbox_every_create_lands_once_at_the_limit() -> None:
    """Creates sent all at once at a 40-per-2-s limit with latency and jitter: each lands
    exactly once (a burst answer, if the machine stalls, is waited out and sent again). How
    close to the ceiling the pace comes, and how few 429s it meets, is measured by
    ``bench/bench_client.py`` (a figure, not a timed assertion)."""
    limit, creates = 40, 240
    config = SandboxConfig(burst_limit=limit, latency_ms=40, latency_jitter_ms=20, seed=4)
    with running_sandbox(config) as sb:

        async def go() -> list[dict[str, object]]:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                pd.governor.limit = limit
                return await asyncio.gather(
                    *(pd.create("persons", {"name": f"P{i}"}) for i in range(creates))
                )

        made = asyncio.run(go())
        stats, dump = sb.stats(), sb.dump()
    assert stats.get("200", 0) == creates
    assert sorted(p["name"] for p in dump["persons"]) == sorted(f"P{i}" for i in range(creates))
    assert len({m["id"] for m in made}) == creates


def test_another_client_on_the_same_token_is_made_room_for() -> None:
    """A second, ungoverned client sends 6 requests every 2 s on the same token: the governor
    sees them in ``x-ratelimit-remaining`` and leaves them room instead of meeting 429s (only
    its first burst, sent before any answer told of the other client, may meet one)."""
    limit = 30
    config = SandboxConfig(burst_limit=limit, latency_ms=30, seed=6)
    with running_sandbox(config) as sb:

        async def other(stop: asyncio.Event) -> None:
            async with httpx.AsyncClient(
                base_url=sb.base_url, headers={"x-api-token": sb.api_token}
            ) as http:
                while not stop.is_set():
                    await http.get("/v2/persons", params={"limit": 1})
                    await asyncio.sleep(WINDOW / 6)

        async def go() -> RateGovernor:
            stop = asyncio.Event()
            background = asyncio.ensure_future(other(stop))
            await asyncio.sleep(0.5)
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                await asyncio.gather(*(pd.create("persons", {"name": f"P{i}"}) for i in range(150)))
                stop.set()
                await background
                return pd.governor

        governor = asyncio.run(go())
    assert governor.foreign >= 1  # seen in x-ratelimit-remaining
    assert governor.throttled <= 3
