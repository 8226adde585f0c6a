"""Pipedrive plans: burst limits and daily token budgets (RATE-LIMITS.md in the specs folder).

The burst limits per 2-second window are Pipedrive's documented api_token figures. The budget
multipliers between the smallest plan (1) and the largest (7) are not published: they are
estimates, kept here in one place so the estimator and the sandbox agree.
"""

from __future__ import annotations

WINDOW_SECONDS = 2.0
BASE_DAILY_TOKENS = 30_000
SEARCH_BURST = 10
PLAN_BURST = {"essential": 20, "advanced": 40, "professional": 80, "power": 100, "enterprise": 120}
PLAN_MULTIPLIER = {
    "essential": 1.0,
    "advanced": 2.0,
    "professional": 4.0,
    "power": 5.5,
    "enterprise": 7.0,
}


class UnknownPlan(ValueError):
    """A plan name Pipedrive does not have; the message lists the ones it does."""


def check_plan(plan: str) -> str:
    name = plan.strip().lower()
    if name not in PLAN_BURST:
        raise UnknownPlan(f"unknown Pipedrive plan {plan!r}: use one of {', '.join(PLAN_BURST)}")
    return name


def daily_budget(plan: str, seats: int) -> int:
    """30,000 tokens × the plan's multiplier × seats."""
    return int(BASE_DAILY_TOKENS * PLAN_MULTIPLIER[check_plan(plan)] * max(seats, 1))


def requests_per_second(plan: str) -> float:
    """The plan's burst ceiling as a steady rate."""
    return PLAN_BURST[check_plan(plan)] / WINDOW_SECONDS
