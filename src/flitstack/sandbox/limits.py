"""Pipedrive's rate limits: a daily token budget and a per-token burst limit in 2-second windows
(search has its own, lower one), answered with the rate-limit headers or 429 + Retry-After.

The figures come from the plan table (:mod:`flitstack.pipedrive.plans`, any plan name in any
case) unless the config sets them. The budget is per calendar day in the account's time zone
(``SandboxConfig.timezone``): the spent tokens go back to zero at local midnight, and a 429 for
a spent budget says in ``Retry-After`` how long until then.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime

from starlette.responses import Response

from flitstack.pipedrive import plans
from flitstack.pipedrive.costs import token_cost
from flitstack.sandbox.config import WINDOW_SECONDS, SandboxConfig
from flitstack.sandbox.envelope import envelope_error


class RateLimiter:
    """Burst windows per token and the day's spent tokens, behind one lock."""

    def __init__(
        self,
        config: SandboxConfig,
        counters: Counter[str],
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config  # shared with the account: fault and limit changes apply at once
        self.counters = counters
        self._windows: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.now: Callable[[], datetime] = now or plans.utc_now
        plans.check_plan(config.plan)  # a wrong plan fails now, not on the first request
        self.tokens_used = 0
        self.day = plans.budget_day(self.now(), config.timezone)
        self.day_started = time.time()

    def budget_left(self) -> int:
        with self._lock:
            self._roll_day()
            return self._left()

    def _left(self) -> int:
        return max(0, self.config.budget() - self.tokens_used)

    def _roll_day(self) -> None:
        """Past local midnight in the account's time zone: a new day, a full budget."""
        today = plans.budget_day(self.now(), self.config.timezone)
        if today != self.day:
            self.day, self.tokens_used, self.day_started = today, 0, time.time()

    def seconds_until_reset(self) -> int:
        """Whole seconds until the next local midnight (at least 1)."""
        return max(1, math.ceil(plans.seconds_until_reset(self.now(), self.config.timezone)))

    def reset_budget(self) -> None:
        """Start a new budget day now (a test's "next day")."""
        with self._lock:
            self.tokens_used = 0
            self.day = plans.budget_day(self.now(), self.config.timezone)
            self.day_started = time.time()

    def admit(self, method: str, path: str, token: str) -> tuple[dict[str, str], Response | None]:
        """Charge the request or refuse it with 429; return the rate-limit headers."""
        is_search = path.endswith("/search") or "/find" in path
        limit = self.config.search_burst_limit if is_search else self.config.burst()
        key = f"{token}:{'search' if is_search else 'all'}"
        cost = token_cost(method, path)
        now = time.monotonic()
        with self._lock:
            self._roll_day()
            window = self._windows.setdefault(key, deque())
            while window and now - window[0] >= WINDOW_SECONDS:
                window.popleft()
            reset = WINDOW_SECONDS - (now - window[0]) if window else WINDOW_SECONDS
            headers = {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-reset": str(max(1, round(reset))),
            }
            if self.tokens_used + cost > self.config.budget():
                seconds = self.seconds_until_reset()
                headers.update({"x-ratelimit-remaining": str(limit - len(window))})
                headers["retry-after"] = str(seconds)
                headers["x-daily-requests-left"] = "0"
                self.counters["429_budget"] += 1
                return headers, envelope_error(
                    429, "Daily token budget exhausted", "The company's daily budget is spent."
                )
            if len(window) >= limit:
                headers["x-ratelimit-remaining"] = "0"
                headers["retry-after"] = str(max(1, int(reset + 0.999)))
                self.counters["429_burst"] += 1
                return headers, envelope_error(429, "Request over limit")
            window.append(now)
            self.tokens_used += cost
            headers["x-ratelimit-remaining"] = str(limit - len(window))
            if method in {"POST", "PUT", "PATCH"}:
                headers["x-daily-requests-left"] = str(self._left())
        return headers, None
