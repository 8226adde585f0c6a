"""Pace requests just under Pipedrive's burst limit and keep count of the daily token budget.

The limit is learned from ``x-ratelimit-limit`` on every response (not guessed); sends are
spaced so no rolling 2-second window holds more than the limit minus a small margin. A 429's
``Retry-After`` pauses everyone; so does a Cloudflare block (a 403 after too many 429s), longer.

No response header reports the tokens left in the day's budget, so the governor keeps its own
count: the tokens it has spent on the current budget day, against the daily budget when it is
known (:meth:`RateGovernor.for_plan`, :meth:`RateGovernor.from_settings`). The budget day is the
calendar day in the account's time zone; the count starts again at local midnight. An
``x-daily-requests-left`` header, where a server sends one, narrows the figure further.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from flitstack.pipedrive import plans

if TYPE_CHECKING:
    from flitstack.settings import Settings

WINDOW = plans.WINDOW_SECONDS
#: A 403 this many seconds (or fewer) after a 429's pause ended is still "right after" it.
AFTER_429_SECONDS = 10.0


class RateGovernor:
    """Shared by every concurrent request of one client (one token)."""

    def __init__(
        self,
        initial_limit: int = 10,
        margin: int = 1,
        search_limit: int = plans.SEARCH_BURST,
        *,
        daily_budget: int | None = None,
        timezone: str = "UTC",
        now: Callable[[], datetime] | None = None,
    ) -> None:
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
        self._after_429_until = float("-inf")
        self.last_429_wait = 0.0
        self.tokens_spent = 0
        self.requests = 0
        self.throttled = 0  # 429 answers seen
        self.blocked = 0  # 403 rate-limit (Cloudflare) answers seen
        self.started = time.monotonic()
        # the day's budget: our own count, per calendar day in the account's time zone
        self.daily_budget = daily_budget
        self.timezone = timezone
        self.zone = plans.zone(timezone)
        self.now: Callable[[], datetime] = now or plans.utc_now
        self.budget_day: date = plans.budget_day(self.now(), self.zone)
        self.spent_today = 0
        self._header_left: int | None = None

    @classmethod
    def for_plan(
        cls,
        plan: str,
        seats: int = 1,
        *,
        topup_tokens: int = 0,
        auth: str = "api_token",
        timezone: str = "UTC",
        now: Callable[[], datetime] | None = None,
    ) -> RateGovernor:
        """A governor that starts at the plan's burst limit and counts its daily budget."""
        return cls(
            initial_limit=plans.burst_limit(plan, auth),
            daily_budget=plans.daily_budget(plan, seats, topup_tokens),
            timezone=timezone,
            now=now,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        auth: str = "api_token",
        now: Callable[[], datetime] | None = None,
    ) -> RateGovernor:
        """The project's plan, seats, top-ups and account time zone."""
        return cls.for_plan(
            settings.plan,
            settings.seats,
            topup_tokens=settings.topup_tokens,
            auth=auth,
            timezone=settings.account_zone(),
            now=now,
        )

    # --- the day's budget ----------------------------------------------------------------------
    def _roll_day(self) -> None:
        """At local midnight in the account's time zone the count starts again."""
        today = plans.budget_day(self.now(), self.zone)
        if today != self.budget_day:
            self.budget_day = today
            self.spent_today = 0
            self._header_left = None  # yesterday's figure says nothing about today

    @property
    def budget_left(self) -> int | None:
        """Tokens left today: the daily budget less what this client spent since local midnight
        (narrowed by ``x-daily-requests-left`` when a server sends it); None when unknown."""
        self._roll_day()
        known = [self._header_left] if self._header_left is not None else []
        if self.daily_budget is not None:
            known.append(self.daily_budget - self.spent_today)
        return min(known) if known else None

    @budget_left.setter
    def budget_left(self, value: int | None) -> None:
        self._roll_day()
        self._header_left = value

    def next_reset(self) -> datetime:
        """When the budget is renewed: the next midnight in the account's time zone."""
        return plans.next_reset(self.now(), self.zone)

    def seconds_until_reset(self) -> float:
        return plans.seconds_until_reset(self.now(), self.zone)

    def resets_at(self, seconds: float) -> datetime:
        """``seconds`` from now, in the account's time zone (a server's Retry-After)."""
        return (plans.aware(self.now()) + timedelta(seconds=seconds)).astimezone(self.zone)

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
        """Count ``cost`` against today's budget; learn the limit (and any budget figure) from a
        response's headers. Answers refused for rate limiting are observed with cost 0."""
        self._roll_day()
        self.tokens_spent += cost
        self.spent_today += cost
        limit = headers.get("x-ratelimit-limit")
        if limit and limit.isdigit() and int(limit) > 0 and int(limit) != self.search_limit:
            self.limit = int(limit)
        remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
        if remaining == "0" and reset and reset.isdigit():
            self._paused_until = max(self._paused_until, time.monotonic() + int(reset) / 2)
        left = headers.get("x-daily-requests-left")
        if left and left.lstrip("-").isdigit():
            self._header_left = int(left)
        elif self._header_left is not None:
            self._header_left -= cost

    def pause(self, seconds: float) -> None:
        """Everyone waits (a 429's Retry-After)."""
        self.throttled += 1
        self.last_429_wait = seconds
        until = time.monotonic() + seconds
        self._paused_until = max(self._paused_until, until)
        self._after_429_until = max(self._after_429_until, until + AFTER_429_SECONDS)

    def after_429(self) -> bool:
        """True while an answer would come "right after" a 429 (its pause, then a few seconds)."""
        return time.monotonic() < self._after_429_until

    def block(self, seconds: float) -> None:
        """Everyone waits, longer than for a 429: a Cloudflare block (403) for too many calls."""
        self.blocked += 1
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
