"""How a sandbox account behaves: its plan, limits, faults and seed data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flitstack.pipedrive.plans import (
    PLAN_BURST,
    PLAN_MULTIPLIER,
    WINDOW_SECONDS,
    burst_limit,
    daily_budget,
)

__all__ = ["PLAN_BURST", "PLAN_MULTIPLIER", "WINDOW_SECONDS", "SandboxConfig", "load_users"]


@dataclass
class SandboxConfig:
    """How the sandbox account behaves. Defaults: a clean, fast, generous account."""

    plan: str = "professional"
    seats: int = 5
    daily_budget: int | None = None  # None: 30,000 × plan multiplier × seats + top-ups
    topup_tokens: int = 0  # purchased daily top-up tokens
    timezone: str = "UTC"  # the account's: the daily budget resets at midnight there
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
    # The first user is the account's owner (the API token's user, GET /v1/users/me); each
    # has a name, an email and optionally active (default true). See load_users for a file.
    seed_users: list[dict[str, Any]] = field(
        default_factory=lambda: [{"name": "Sandbox Admin", "email": "admin@sandbox.example"}]
    )
    seed_persons: list[dict[str, Any]] = field(default_factory=list)
    seed_organizations: list[dict[str, Any]] = field(default_factory=list)

    def budget(self) -> int:
        if self.daily_budget is not None:
            return self.daily_budget
        return daily_budget(self.plan, self.seats, self.topup_tokens)

    def burst(self) -> int:
        return self.burst_limit or burst_limit(self.plan)


def load_users(source: str | Path | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Users to seed, from a JSON file (or its parsed list): ``[{"name", "email", "active"}]``.

    ``active`` is optional (default true). A wrong file is refused with a ValueError naming the
    entry and what is wrong, so a rehearsal never starts with half of the users.
    """
    if isinstance(source, list):
        raw: Any = source
        where = "users"
    else:
        where = str(source)
        try:
            raw = json.loads(Path(source).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"{where}: cannot be read ({exc.strerror or exc})") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not JSON ({exc.msg}, line {exc.lineno})") from exc
    if isinstance(raw, dict) and isinstance(raw.get("users"), list):
        raw = raw["users"]  # {"users": [...]} is accepted too
    if not isinstance(raw, list):
        raise ValueError(f'{where}: expected a JSON array of {{"name", "email", "active"}}')
    users: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw, 1):
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: user {i} is not an object")
        name, email = entry.get("name"), entry.get("email")
        active = entry.get("active", True)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: user {i} has no name")
        if not isinstance(email, str) or "@" not in email.strip(" @"):
            raise ValueError(f"{where}: user {i} ({name}) has no valid email")
        if not isinstance(active, bool):
            raise ValueError(f"{where}: user {i} ({name}): active must be true or false")
        unknown = set(entry) - {"name", "email", "active"}
        if unknown:
            raise ValueError(f"{where}: user {i} ({name}): unknown keys {sorted(unknown)}")
        if email.strip().casefold() in seen:
            raise ValueError(f"{where}: user {i} ({name}): {email} is listed twice")
        seen.add(email.strip().casefold())
        users.append({"name": name.strip(), "email": email.strip(), "active": active})
    return users
