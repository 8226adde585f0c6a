"""Pipedrive plans: burst limits and daily token budgets (RATE-LIMITS.md in the specs folder).

One table for every plan an account can be on: the current ones (Lite, Growth, Premium,
Ultimate) and the legacy ones older accounts keep (Essential, Advanced, Professional, Power,
Enterprise). Each has a daily budget multiplier (30,000 tokens × multiplier × seats, plus any
purchased top-ups) and a burst limit per rolling 2-second window for API-token requests; OAuth
apps get 4× that burst. Search is 10 per 2 s on every plan. The estimate, the rate governor and
the sandbox all read the figures here.

The daily budget resets at midnight in the account's (server's) time zone, not 24 hours after a
process started: :func:`budget_day` and :func:`next_reset` say which calendar day a moment
counts against and when that day's budget is renewed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal, cast
from zoneinfo import ZoneInfo

WINDOW_SECONDS = 2.0
BASE_DAILY_TOKENS = 30_000
SEARCH_BURST = 10
#: OAuth apps get this many times an API token's burst limit.
OAUTH_BURST_FACTOR = 4

AuthKind = Literal["api_token", "oauth"]
AUTH_KINDS: tuple[AuthKind, ...] = ("api_token", "oauth")


@dataclass(frozen=True)
class Plan:
    """One Pipedrive plan's figures."""

    name: str
    multiplier: int  # daily budget = 30,000 × multiplier × seats (+ top-ups)
    burst: int  # API-token requests per 2-second window
    legacy: bool

    def burst_limit(self, auth: str = "api_token") -> int:
        """Requests per 2 s for this kind of credential (OAuth apps: 4×)."""
        return self.burst * (OAUTH_BURST_FACTOR if check_auth(auth) == "oauth" else 1)

    def daily_budget(self, seats: int, topup_tokens: int = 0) -> int:
        """30,000 × multiplier × seats, plus purchased top-up tokens."""
        if topup_tokens < 0:
            raise ValueError(f"top-up tokens cannot be negative, not {topup_tokens}")
        return BASE_DAILY_TOKENS * self.multiplier * max(seats, 1) + topup_tokens


#: Current plans first, then the legacy names accounts keep.
PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("lite", 1, 20, legacy=False),
        Plan("growth", 2, 40, legacy=False),
        Plan("premium", 5, 100, legacy=False),
        Plan("ultimate", 7, 120, legacy=False),
        Plan("essential", 1, 20, legacy=True),
        Plan("advanced", 2, 40, legacy=True),
        Plan("professional", 3, 80, legacy=True),
        Plan("power", 5, 100, legacy=True),
        Plan("enterprise", 7, 120, legacy=True),
    )
}
#: Views of the table, by plan name (lower case).
PLAN_BURST: dict[str, int] = {name: p.burst for name, p in PLANS.items()}
PLAN_MULTIPLIER: dict[str, int] = {name: p.multiplier for name, p in PLANS.items()}
CURRENT_PLANS = tuple(name for name, p in PLANS.items() if not p.legacy)
LEGACY_PLANS = tuple(name for name, p in PLANS.items() if p.legacy)


class UnknownPlan(ValueError):
    """A plan name Pipedrive does not have; the message lists the ones it does."""


def plan_names() -> str:
    """``lite, growth, … (current); essential, advanced, … (legacy)`` for messages and help."""
    return f"{', '.join(CURRENT_PLANS)} (current); {', '.join(LEGACY_PLANS)} (legacy)"


def check_plan(plan: str) -> str:
    """The plan's name in lower case; any case is accepted. Raises :class:`UnknownPlan`."""
    name = plan.strip().lower()
    if name not in PLANS:
        raise UnknownPlan(f"unknown Pipedrive plan {plan!r}: use one of {plan_names()}")
    return name


def get_plan(plan: str) -> Plan:
    return PLANS[check_plan(plan)]


def check_auth(auth: str) -> AuthKind:
    """``api_token`` or ``oauth`` (any case); a ValueError names them otherwise."""
    kind = auth.strip().lower()
    if kind not in AUTH_KINDS:
        raise ValueError(f"unknown auth kind {auth!r}: use one of {', '.join(AUTH_KINDS)}")
    return cast(AuthKind, kind)


def daily_budget(plan: str, seats: int, topup_tokens: int = 0) -> int:
    """30,000 tokens × the plan's multiplier × seats, plus purchased top-up tokens."""
    return get_plan(plan).daily_budget(seats, topup_tokens)


def burst_limit(plan: str, auth: str = "api_token") -> int:
    """The plan's requests per 2-second window (OAuth apps: 4× the API token's)."""
    return get_plan(plan).burst_limit(auth)


def requests_per_second(plan: str, auth: str = "api_token") -> float:
    """The plan's burst ceiling as a steady rate."""
    return burst_limit(plan, auth) / WINDOW_SECONDS


# --- the budget's day -----------------------------------------------------------------------------
def zone(timezone: str | tzinfo) -> tzinfo:
    """An IANA name (``America/Chicago``) or a tzinfo, as a tzinfo."""
    return ZoneInfo(timezone) if isinstance(timezone, str) else timezone


def aware(moment: datetime) -> datetime:
    """``moment`` with a time zone: a naive one is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def budget_day(moment: datetime, timezone: str | tzinfo) -> date:
    """The calendar day, in the account's time zone, whose budget ``moment`` draws on."""
    return aware(moment).astimezone(zone(timezone)).date()


def next_reset(moment: datetime, timezone: str | tzinfo) -> datetime:
    """The next local midnight after ``moment``: when the daily budget is renewed.

    Returned in the account's time zone. Where a DST change skips midnight, the day starts at
    the moment of the change.
    """
    tz = zone(timezone)
    local = aware(moment).astimezone(tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)
    # round-trip through UTC so a midnight that does not exist becomes the real instant
    return midnight.astimezone(UTC).astimezone(tz)


def seconds_until_reset(moment: datetime, timezone: str | tzinfo) -> float:
    """Seconds from ``moment`` to the next local midnight (compared in UTC, so DST counts)."""
    start = aware(moment).astimezone(UTC)
    return (next_reset(moment, timezone).astimezone(UTC) - start).total_seconds()


def utc_now() -> datetime:
    return datetime.now(UTC)
