"""Pipedrive's rate limits: a daily token budget and a per-token burst limit in 2-second windows
(search has its own, lower one), answered with the rate-limit headers or 429 + Retry-After."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

from starlette.responses import Response

from flitstack.pipedrive.costs import token_cost
from flitstack.sandbox.config import WINDOW_SECONDS, SandboxConfig
from flitstack.sandbox.envelope import envelope_error


class RateLimiter:
    """Burst windows per token and the day's spent tokens, behind one lock."""

    def __init__(self, config: SandboxConfig, counters: Counter[str]) -> None:
        self.config = config  # shared with the account: fault and limit changes apply at once
        self.counters = counters
        self._windows: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.tokens_used = 0
        self.day_started = time.time()

    def budget_left(self) -> int:
        return max(0, self.config.budget() - self.tokens_used)

    def reset_budget(self) -> None:
        with self._lock:
            self.tokens_used = 0
            self.day_started = time.time()

    def admit(self, method: str, path: str, token: str) -> tuple[dict[str, str], Response | None]:
        """Charge the request or refuse it with 429; return the rate-limit headers."""
        is_search = path.endswith("/search") or "/find" in path
        limit = self.config.search_burst_limit if is_search else self.config.burst()
        key = f"{token}:{'search' if is_search else 'all'}"
        cost = token_cost(method, path)
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and now - window[0] >= WINDOW_SECONDS:
                window.popleft()
            reset = WINDOW_SECONDS - (now - window[0]) if window else WINDOW_SECONDS
            headers = {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-reset": str(max(1, round(reset))),
            }
            if self.tokens_used + cost > self.config.budget():
                seconds = max(1, int(86_400 - (time.time() - self.day_started)))
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
                headers["x-daily-requests-left"] = str(self.budget_left())
        return headers, None
