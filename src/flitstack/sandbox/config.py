"""How a sandbox account behaves: its plan, limits, faults and seed data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flitstack.pipedrive.plans import PLAN_BURST, PLAN_MULTIPLIER, WINDOW_SECONDS

__all__ = ["PLAN_BURST", "PLAN_MULTIPLIER", "WINDOW_SECONDS", "SandboxConfig"]


@dataclass
class SandboxConfig:
    """How the sandbox account behaves. Defaults: a clean, fast, generous account."""

    plan: str = "professional"
    seats: int = 5
    daily_budget: int | None = None  # None: 30,000 × plan multiplier × seats
    burst_limit: int | None = None  # None: the plan's documented api_token limit per 2 s
    search_burst_limit: int = 10
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    fault_5xx_rate: float = 0.0
    fault_reset_rate: float = 0.0
    fault_lost_response_rate: float = 0.0
    seed: int = 0
    db_path: str | None = None
    api_token: str | None = None
    company_domain: str = "sandbox"
    seed_users: list[dict[str, Any]] = field(
        default_factory=lambda: [{"name": "Sandbox Admin", "email": "admin@sandbox.example"}]
    )
    seed_persons: list[dict[str, Any]] = field(default_factory=list)
    seed_organizations: list[dict[str, Any]] = field(default_factory=list)

    def budget(self) -> int:
        if self.daily_budget is not None:
            return self.daily_budget
        return int(30_000 * PLAN_MULTIPLIER.get(self.plan, 1.0) * self.seats)

    def burst(self) -> int:
        return self.burst_limit or PLAN_BURST.get(self.plan, 40)
