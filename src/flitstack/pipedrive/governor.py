"""Pace requests just under Pipedrive's burst limit and watch the daily token budget.

The limit is learned from ``x-ratelimit-limit`` on every response (not guessed); sends are
spaced so no rolling 2-second window holds more than the limit minus a small margin. A 429's
``Retry-After`` pauses everyone, and ``x-daily-requests-left`` tells how much budget is left.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Mapping

WINDOW = 2.0


class RateGovernor:
    """Shared by every concurrent request of one client (one token)."""

    def __init__(self, initial_limit: int = 10, margin: int = 1, search_limit: int = 10) -> None:
        self.limit = initial_limit
        self.search_limit = search_limit
        self.margin = margin
        # Each slot holds when the server most likely counted its request (inf while in flight):
        # the midpoint of send and answer. The error is at most half the round trip, which the
        # headroom of ``_allowed`` absorbs; freeing 2 s after the answer instead would idle
        # every slot for a whole round trip (about 7% of the ceiling at 150 ms).
        self._sent: deque[list[float]] = deque()
        self._search_sent: deque[list[float]] = deque()
        self._lock = asyncio.Lock()
        self._paused_until = 0.0
        self.budget_left: int | None = None
        self.tokens_spent = 0
        self.requests = 0
        self.throttled = 0  # 429 answers seen
        self.started = time.monotonic()

    def _allowed(self, search: bool) -> int:
        limit = self.search_limit if search else self.limit
        # Arrival jitter on the wire can bunch sends; keep ~5% headroom (at least ``margin``).
        return max(1, limit - max(self.margin, round(limit * 0.05)))

    async def acquire(self, search: bool = False) -> list[float]:
        """Wait until one more request keeps the window under the limit; returns its slot."""
        window = self._search_sent if search else self._sent
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                live = deque(slot for slot in window if now - slot[0] < WINDOW)
                window.clear()
                window.extend(live)
                if len(window) < self._allowed(search):
                    slot = [float("inf"), now]
                    window.append(slot)
                    self.requests += 1
                    return slot
                oldest = min(slot[0] for slot in window)
                wait = WINDOW - (now - oldest) + 0.005 if oldest != float("inf") else 0.01
                await asyncio.sleep(max(0.005, wait))

    @staticmethod
    def release(slot: list[float]) -> None:
        """The request was answered: its slot expires 2 s after the server counted it."""
        slot[0] = (slot[1] + time.monotonic()) / 2

    def observe(self, headers: Mapping[str, str], cost: int) -> None:
        """Learn the limit and the budget from a response's headers."""
        self.tokens_spent += cost
        limit = headers.get("x-ratelimit-limit")
        if limit and limit.isdigit() and int(limit) > 0 and int(limit) != self.search_limit:
            self.limit = int(limit)
        remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
        if remaining == "0" and reset and reset.isdigit():
            self._paused_until = max(self._paused_until, time.monotonic() + int(reset) / 2)
        left = headers.get("x-daily-requests-left")
        if left and left.lstrip("-").isdigit():
            self.budget_left = int(left)
        elif self.budget_left is not None:
            self.budget_left -= cost

    def pause(self, seconds: float) -> None:
        """Everyone waits (a 429's Retry-After)."""
        self.throttled += 1
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    @staticmethod
    def backoff(attempt: int, base: float = 0.25, cap: float = 8.0) -> float:
        """Full-jitter exponential backoff for 5xx and network errors."""
        return random.uniform(0, min(cap, base * 2**attempt))

    def days_needed(self, tokens: int, daily_budget: int) -> float:
        return tokens / daily_budget if daily_budget else float("inf")

    def will_exhaust(self, tokens_needed: int) -> bool:
        """True when the known budget left cannot cover ``tokens_needed``."""
        return self.budget_left is not None and self.budget_left < tokens_needed

    def rate(self) -> float:
        """Requests per second so far."""
        elapsed = time.monotonic() - self.started
        return self.requests / elapsed if elapsed > 0 else 0.0
