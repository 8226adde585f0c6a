"""Pace requests at Pipedrive's burst limit and keep count of the daily token budget.

The limit is learned from ``x-ratelimit-limit`` on every response (not guessed). Pipedrive counts
a request in its rolling 2-second window when it arrives; the governor cannot see that moment,
but it sees when a request left and when its answer came. The arrival is a constant (the
shortest round trip's outbound part) after the send plus at most the request's *excess* round
trip over the shortest one seen lately; so each answered request holds its slot until 2 s after
``sent + excess``, which is exact when the delay is steady and never early when it varies (a
request in flight holds its slot). Until a window's worth of answers has shown the shortest
round trip, and again after a 429, only part of it is trusted: a slot is then held up to 2 s
after its answer, which the server cannot have counted later than. Sends are spaced so that no
window holds more than the limit less an adaptive headroom:

- ``x-ratelimit-remaining`` tells how many requests the server held in the window when it
  counted each one; as many as it held beyond those the governor sent there (another process
  on the same token) are left room for, for a window after an answer last showed them;
- a 429 adds one request of headroom, widens the timing guard and halves the trust in the
  shortest round trip; a long run of answers without one gives them back, step by step;
- a 429's ``Retry-After`` pauses everyone; so does a Cloudflare block (a 403 after too many
  429s), longer. ``x-ratelimit-reset`` is in whole seconds, too coarse to pace a 2-second window
  by: it only times the wait when an answer the governor cannot place (no slot of its own)
  reports the window full.

The search API has its own window (10 per 2 s) with the same accounting, behind its own lock,
so a lookup waiting for a search slot never holds up the other requests.

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
#: The least time a send keeps clear of a slot's expiry (timer and clock noise), and the most a
#: run of 429s widens it to.
GUARD_MIN, GUARD_MAX = 0.003, 0.25
#: The shortest round trip is taken over this many recent answers (a slower path that lasts
#: takes over from an old fast one; until then the excess is over-counted: early never).
FLOOR_SPAN = 512
#: Answers without a 429, per request of the limit, after which one step of the headroom and
#: guard a 429 added is given back.
CALM_PER_LIMIT = 8
#: Answers, per request of the limit, over which the governor comes to trust its shortest round
#: trip (after a first window's worth): until then, and again after a 429, part of every round
#: trip counts as excess, which is safe (the server counted each request before it answered).
TRUST_PER_LIMIT = 2
#: Requests the server counted that the governor did not send are left room for this long
#: after an answer last showed them (past the window: the next such request shows only with the
#: next answer, so a client sending steadily on the same token keeps its room).
FOREIGN_HOLD = 0.25
#: While every slot of a full window is still in flight, look again this often.
POLL = 0.005
INF = float("inf")


class Slot:
    """One request's place in a window: when it left and when its answer came (``inf`` while in
    flight). A refused one (429 or block) was never counted by the server."""

    __slots__ = ("answered", "refused", "sent", "window")

    def __init__(self, window: _Window, sent: float) -> None:
        self.window, self.sent = window, sent
        self.answered = INF
        self.refused = False


class _Window:
    """The requests of one burst limit (general or search) and what the governor learned of
    its timing and of the server's count: the shortest recent round trip, the guard, the
    headroom and the room left for requests it did not send."""

    def __init__(self, limit: int, margin: int) -> None:
        self.limit, self.margin = limit, margin
        self.slots: deque[Slot] = deque()
        self.lock = asyncio.Lock()
        self.headroom = margin  # requests held back: the margin, plus one per recent 429
        self.guard = GUARD_MIN
        self.trust = 0.0  # how much of the shortest round trip is taken as a constant delay
        self.calm = 0  # answers since the last 429
        self.foreign = 0  # the most requests seen in the window that the governor did not send
        self._foreign: deque[tuple[float, int]] = deque()  # (answer time, how many) lately
        self._trips: deque[tuple[int, float]] = deque()  # a sliding minimum of round trips
        self._answers = 0

    @property
    def floor(self) -> float:
        """The shortest round trip among the last :data:`FLOOR_SPAN` answers."""
        return self._trips[0][1] if self._trips else INF

    def add_trip(self, trip: float) -> None:
        self._answers += 1
        if self._answers > self.limit:  # a first burst's round trips say least
            self.trust = min(1.0, self.trust + 1 / (TRUST_PER_LIMIT * max(1, self.limit)))
        while self._trips and self._trips[-1][1] >= trip:
            self._trips.pop()
        self._trips.append((self._answers, trip))
        while self._trips[0][0] <= self._answers - FLOOR_SPAN:
            self._trips.popleft()

    def key(self, slot: Slot) -> float:
        """When the server counted ``slot``, less the unknown constant outbound delay: its send
        plus its excess round trip (``inf`` while in flight). Until the shortest round trip is
        trusted, only that share of it is taken off the answer's time."""
        if slot.answered == INF:
            return INF
        floor = self.floor
        excess = slot.answered - slot.sent - self.trust * floor if floor != INF else 0.0
        return slot.sent + max(0.0, excess)

    def others(self, now: float) -> int:
        """Room kept for requests the governor did not send: the most an answer showed in the
        last window (and :data:`FOREIGN_HOLD`)."""
        while self._foreign and self._foreign[0][0] + WINDOW + FOREIGN_HOLD < now:
            self._foreign.popleft()
        return max((n for _, n in self._foreign), default=0)

    def allowed(self, now: float) -> int:
        """Requests the window may hold now (none while others fill it: that room comes back
        within a window)."""
        return max(0, max(1, self.limit - self.headroom) - self.others(now))

    def occupancy(self, now: float) -> tuple[int, float]:
        """Slots that still count at ``now`` and when the first of them stops counting (``inf``
        when all of them are in flight); slots long gone are dropped."""
        live, soonest = 0, INF
        keep: deque[Slot] = deque()
        for slot in self.slots:
            key = self.key(slot)
            if key != INF and key + 2 * WINDOW < now:
                continue  # kept this long only to place answers (``surprise``)
            keep.append(slot)
            if slot.refused:
                continue
            expires = key + WINDOW + self.guard
            if expires > now:
                live += 1
                soonest = min(soonest, expires)
        self.slots = keep
        return live, soonest

    def surprise(self, slot: Slot, counted: int) -> int:
        """How many more requests the server counted in ``slot``'s window than the governor
        sent there; room is kept for as many (:meth:`others`)."""
        at = self.key(slot)
        known = 0
        for other in self.slots:
            if other.refused:
                continue
            if other.answered == INF:  # in flight: counted if it left before ``slot`` arrived
                known += at - WINDOW < other.sent <= at
            else:
                key = self.key(other)
                known += key <= at < key + WINDOW
        extra = counted - known
        if extra > 0:
            self._foreign.append((slot.answered, extra))
            self.foreign = max(self.foreign, extra)
        return extra

    def throttled(self) -> None:
        """A 429: one more request of headroom (up to a quarter of the limit), a wider guard,
        and the shortest round trip trusted half as much again."""
        self.headroom = min(max(self.margin, self.limit // 4), self.headroom + 1)
        self.guard = min(GUARD_MAX, self.guard * 2 + 0.005)
        self.trust /= 2
        self.calm = 0

    def answered_well(self) -> None:
        """A long enough run of answers without a 429 gives one step back."""
        self.calm += 1
        if self.calm >= CALM_PER_LIMIT * self.limit:
            self.calm = 0
            self.headroom = max(self.margin, self.headroom - 1)
            self.guard = max(GUARD_MIN, self.guard / 2)


class RateGovernor:
    """Shared by every concurrent request of one client (one token)."""

    def __init__(
        self,
        initial_limit: int = 10,
        margin: int = 0,
        search_limit: int = plans.SEARCH_BURST,
        *,
        daily_budget: int | None = None,
        timezone: str = "UTC",
        now: Callable[[], datetime] | None = None,
    ) -> None:
        # ``margin``: requests always held back below the limit (the headroom 429s add comes
        # on top, and goes again)
        self.margin = margin
        self._general = _Window(initial_limit, margin)
        self._search = _Window(search_limit, margin)
        self._answered: Slot | None = None  # released, its answer not yet observed
        self._observed: Slot | None = None  # whose answer was observed last
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

    @property
    def limit(self) -> int:
        """Requests per 2-second window (learned from ``x-ratelimit-limit``)."""
        return self._general.limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._general.limit = value

    @property
    def search_limit(self) -> int:
        """Search requests per 2-second window."""
        return self._search.limit

    @search_limit.setter
    def search_limit(self, value: int) -> None:
        self._search.limit = value

    @property
    def headroom(self) -> int:
        """Requests held back below the limit now (the margin plus what recent 429s added)."""
        return self._general.headroom

    @property
    def foreign(self) -> int:
        """The most requests the server held in a window that the governor did not send (from
        ``x-ratelimit-remaining``): another client on the same token."""
        return max(self._general.foreign, self._search.foreign)

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

    async def acquire(self, search: bool = False) -> Slot:
        """Wait until one more request keeps its window under the limit; returns its slot."""
        window = self._search if search else self._general
        async with window.lock:
            while True:
                now = time.monotonic()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                live, soonest = window.occupancy(now)
                if live < window.allowed(now):
                    slot = Slot(window, now)
                    window.slots.append(slot)
                    self.requests += 1
                    return slot
                await asyncio.sleep(max(0.001, soonest - now) if soonest != INF else POLL)

    def release(self, slot: Slot) -> None:
        """The request was answered (or failed on the way): its slot now expires 2 s after
        its estimated arrival. The answer's headers come next, to :meth:`observe`."""
        slot.answered = time.monotonic()
        self._answered = slot

    def observe(self, headers: Mapping[str, str], cost: int) -> None:
        """Count ``cost`` against today's budget; learn the limit, the round trip and what the
        server counted (and any budget figure) from the headers of the answer just released.
        Answers refused for rate limiting are observed with cost 0."""
        self._roll_day()
        self.tokens_spent += cost
        self.spent_today += cost
        slot, self._answered = self._answered, None
        self._observed = slot
        limit = _number(headers.get("x-ratelimit-limit"))
        if slot is not None:
            window = slot.window
        elif limit is not None and limit == self.search_limit:
            window = self._search  # no slot to say which: the search API's figure is its own
        else:
            window = self._general
        if limit is not None and limit > 0:
            window.limit = limit
        remaining = _number(headers.get("x-ratelimit-remaining"))
        if slot is not None:
            window.add_trip(slot.answered - slot.sent)
            window.answered_well()
            if remaining is not None and window.limit >= remaining:
                window.surprise(slot, window.limit - remaining)
        elif remaining == 0:
            reset = _number(headers.get("x-ratelimit-reset"))
            if reset is not None:  # a full window the governor cannot place: wait it out
                self._paused_until = max(self._paused_until, time.monotonic() + reset / 2)
        left = headers.get("x-daily-requests-left")
        if left and left.lstrip("-").isdigit():
            self._header_left = int(left)
        elif self._header_left is not None:
            self._header_left -= cost

    def _refused(self) -> _Window:
        """The answer just observed was refused: its request was never counted."""
        slot, self._observed = self._observed, None
        if slot is None:
            return self._general
        slot.refused = True
        return slot.window

    def pause(self, seconds: float) -> None:
        """Everyone waits (a 429's Retry-After); the window it hit holds more headroom."""
        self.throttled += 1
        self._refused().throttled()
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
        self._refused().throttled()
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


def _number(value: str | None) -> int | None:
    """A header's whole number (None when absent or not one)."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None
