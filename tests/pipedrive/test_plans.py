"""Pipedrive's plans as they are in 2026: one table read by the settings, the estimate, the rate
governor and the sandbox; OAuth bursts, top-ups, and a daily budget that resets at midnight in
the account's time zone (not UTC, not 24 h after a process started)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import ValidationError

from flitstack.journey.estimate import Call, Estimate, Grade, ObjectLoad, estimate_migration
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import Workbook
from flitstack.pipedrive import plans
from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.errors import BudgetExhausted
from flitstack.pipedrive.governor import RateGovernor
from flitstack.sandbox.config import SandboxConfig
from flitstack.sandbox.limits import RateLimiter
from flitstack.sandbox.server import running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export

#: The issue's and RATE-LIMITS.md's figures: (multiplier, API-token burst per 2 s).
FIGURES = {
    "lite": (1, 20), "growth": (2, 40), "premium": (5, 100), "ultimate": (7, 120),
    "essential": (1, 20), "advanced": (2, 40), "professional": (3, 80), "power": (5, 100),
    "enterprise": (7, 120),
}  # fmt: skip
CURRENT = ("lite", "growth", "premium", "ultimate")
SPELLINGS = [
    spelled for name in FIGURES for spelled in (name, name.upper(), name.title(), f" {name} ")
]
CHICAGO, AUCKLAND = ZoneInfo("America/Chicago"), ZoneInfo("Pacific/Auckland")


class Clock:
    """A fixed clock to move by hand."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> None:
        self.moment = moment


def budget(name: str, seats: int = 1, topup: int = 0) -> int:
    return 30_000 * FIGURES[name][0] * seats + topup


# --- the table ----------------------------------------------------------------------------------
def test_the_table_has_every_current_and_legacy_plan_with_the_2026_figures() -> None:
    assert {n: (p.multiplier, p.burst) for n, p in plans.PLANS.items()} == FIGURES
    assert plans.CURRENT_PLANS == CURRENT
    assert set(plans.LEGACY_PLANS) == set(FIGURES) - set(CURRENT)
    assert plans.PLAN_MULTIPLIER["professional"] == 3 and plans.PLAN_MULTIPLIER["power"] == 5
    assert plans.SEARCH_BURST == 10


@pytest.mark.parametrize("spelled", SPELLINGS)
def test_any_plan_name_in_any_case_gives_its_burst_and_budget(spelled: str) -> None:
    name = spelled.strip().lower()
    assert plans.check_plan(spelled) == name
    assert plans.burst_limit(spelled) == FIGURES[name][1]
    assert plans.burst_limit(spelled, "oauth") == 4 * FIGURES[name][1]
    assert plans.burst_limit(spelled, "OAuth") == 4 * FIGURES[name][1]
    assert plans.daily_budget(spelled, 3) == budget(name, 3)
    assert plans.daily_budget(spelled, 3, 25_000) == budget(name, 3, 25_000)
    assert plans.requests_per_second(spelled) == FIGURES[name][1] / 2


def test_unknown_plans_auth_kinds_and_negative_topups_are_refused() -> None:
    with pytest.raises(plans.UnknownPlan, match=r"lite, growth, premium, ultimate \(current\)"):
        plans.check_plan("gold")
    with pytest.raises(ValueError, match="api_token, oauth"):
        plans.burst_limit("growth", "password")
    with pytest.raises(ValueError, match="negative"):
        plans.daily_budget("growth", 1, -1)


# --- Settings -------------------------------------------------------------------------------------
@pytest.mark.parametrize("spelled", SPELLINGS)
def test_settings_accept_every_plan_in_any_case(spelled: str) -> None:
    assert Settings(plan=spelled).plan == spelled.strip().lower()


def test_settings_topups_account_zone_and_plan_description() -> None:
    s = Settings(timezone="America/Chicago")
    assert (s.topup_tokens, s.account_timezone, s.account_zone()) == (0, None, "America/Chicago")
    s = Settings(timezone="America/Chicago", account_timezone="Pacific/Auckland", topup_tokens=9)
    assert (s.account_zone(), s.topup_tokens) == ("Pacific/Auckland", 9)
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        Settings(account_timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="negative"):
        Settings(topup_tokens=-5)
    with pytest.raises(ValidationError, match="unknown Pipedrive plan"):
        Settings(plan="gold")
    description = Settings.model_fields["plan"].description or ""
    assert all(name in description for name in FIGURES)


# --- the estimate -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Workbook]:
    path = tmp_path_factory.mktemp("plans") / "export"
    generate_export(path, 3, seed=5)
    return path, propose_map(path, Settings(timezone="America/Chicago"))


@pytest.mark.parametrize("spelled", [s for s in SPELLINGS if not s.startswith(" ")])
def test_the_estimate_accepts_every_plan_with_its_figures(
    spelled: str, small_export: tuple[Path, Workbook]
) -> None:
    export, wb = small_export
    name = spelled.lower()
    settings = Settings(timezone="America/Chicago", topup_tokens=1_000)
    est = estimate_migration(export, spelled, 2, settings, sample_patients=2, workbook=wb)
    assert (est.plan, est.burst_per_2s, est.daily_budget) == (
        name, FIGURES[name][1], budget(name, 2, 1_000),
    )  # fmt: skip
    assert est.wall_seconds == pytest.approx(est.requests / (FIGURES[name][1] / 2 * 0.9))
    oauth = estimate_migration(
        export, spelled, 2, settings, sample_patients=2, workbook=wb, auth="oauth"
    )
    assert oauth.burst_per_2s == 4 * FIGURES[name][1]
    assert oauth.wall_seconds == pytest.approx(est.wall_seconds / 4)


def test_the_estimate_counts_days_in_the_account_zone(small_export: tuple[Path, Workbook]) -> None:
    export, wb = small_export
    settings = Settings(timezone="America/Chicago", account_timezone="Pacific/Auckland")
    start = datetime(2026, 7, 15, 11, 0, tzinfo=UTC)  # 23:00 in Auckland (NZST, UTC+12)
    est = estimate_migration(export, "Lite", 1, settings, 2, workbook=wb, start=start)
    assert est.timezone == "Pacific/Auckland"
    assert est.budget_resets_at == datetime(2026, 7, 16, 0, 0, tzinfo=AUCKLAND)
    assert est.budget_resets_at.astimezone(UTC) == datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    data = est.as_dict()
    assert data["budget_resets_at"] == "2026-07-16T00:00:00+12:00"
    assert data["calendar_days"] == 1 and data["schedule"][0]["day"] == "2026-07-15"


def _estimate(tokens_in_person_creates: int, plan: str, start: datetime, zone: str) -> Estimate:
    """An estimate of nothing but person creates (5 tokens each)."""
    count = tokens_in_person_creates // 5
    return Estimate(
        export="x", plan=plan, seats=1, sample_patients=1, source_rows={},
        loads=[ObjectLoad("persons", "", [Call("POST", "/v2/persons", count)])],
        objects_one_to_one=0, objects_mapped=0, objects_not_migrated=0, columns=0,
        columns_to_review=0, grade=Grade("A", "", 0),
        daily_budget=plans.daily_budget(plan, 1), burst_per_2s=plans.burst_limit(plan),
        timezone=zone, starts_at=start,
    )  # fmt: skip


def test_a_run_starting_late_spans_calendar_days_reset_at_local_midnight() -> None:
    # Lite: 30,000 tokens a day; 20 per 2 s at 90% = 9 creates/s = 45 tokens/s (11 min a day)
    at_22 = datetime(2026, 7, 14, 22, 0, tzinfo=CHICAGO)  # 03:00 UTC on the 15th
    est = _estimate(75_000, "lite", at_22, "America/Chicago")
    days = est.schedule()
    assert est.days == 3 and est.calendar_days == 3
    assert [d.day.isoformat() for d in days] == ["2026-07-14", "2026-07-15", "2026-07-16"]
    assert [d.tokens for d in days] == [30_000, 30_000, 15_000]
    assert [d.budget_spent for d in days] == [True, True, False]
    assert est.budget_resets_at == datetime(2026, 7, 15, 0, 0, tzinfo=CHICAGO)
    assert days[1].starts == datetime(2026, 7, 15, 0, 0, tzinfo=CHICAGO)
    assert est.finishes_at == datetime(2026, 7, 16, 0, 0, tzinfo=CHICAGO) + timedelta(
        seconds=15_000 / 45
    )

    # five minutes before local midnight: 13,500 tokens fit before the reset, one more day
    at_2355 = datetime(2026, 7, 14, 23, 55, tzinfo=CHICAGO)
    late = _estimate(75_000, "lite", at_2355, "America/Chicago")
    assert late.days == 3 and late.calendar_days == 4
    assert [d.tokens for d in late.schedule()] == [13_500, 30_000, 30_000, 1_500]


def test_the_estimate_day_is_the_account_day_not_the_utc_day() -> None:
    # 23:55 in Auckland is 11:55 UTC: UTC midnight is 12 h away, the budget's reset 5 minutes
    start = datetime(2026, 7, 15, 11, 55, tzinfo=UTC)
    est = _estimate(60_000, "lite", start, "Pacific/Auckland")
    assert est.budget_resets_at.astimezone(UTC) == datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    assert [d.day.isoformat() for d in est.schedule()] == ["2026-07-15", "2026-07-16", "2026-07-17"]
    assert [d.tokens for d in est.schedule()] == [13_500, 30_000, 16_500]


# --- the budget's day -----------------------------------------------------------------------------
def test_budget_day_and_reset_follow_the_account_zone() -> None:
    moment = datetime(2026, 7, 15, 4, 30, tzinfo=UTC)  # 23:30 on the 14th in Chicago (CDT)
    assert plans.budget_day(moment, "America/Chicago").isoformat() == "2026-07-14"
    assert plans.next_reset(moment, "America/Chicago") == datetime(2026, 7, 15, tzinfo=CHICAGO)
    assert plans.seconds_until_reset(moment, "America/Chicago") == 1800
    assert plans.seconds_until_reset(moment, "UTC") == 19.5 * 3600
    kiwi = datetime(2026, 7, 15, 11, 30, tzinfo=UTC)  # 23:30 in Auckland (NZST)
    assert plans.budget_day(kiwi, "Pacific/Auckland").isoformat() == "2026-07-15"
    assert plans.seconds_until_reset(kiwi, "Pacific/Auckland") == 1800
    # the day DST starts in Chicago has 23 hours; naive moments are UTC
    assert plans.seconds_until_reset(datetime(2026, 3, 8, 6, 0), "America/Chicago") == 23 * 3600


def test_the_governor_takes_every_plan_and_counts_its_own_budget() -> None:
    for spelled in SPELLINGS:
        name = spelled.strip().lower()
        gov = RateGovernor.for_plan(spelled, 4, topup_tokens=500)
        assert (gov.limit, gov.daily_budget) == (FIGURES[name][1], budget(name, 4, 500))
        assert RateGovernor.for_plan(spelled, auth="oauth").limit == 4 * FIGURES[name][1]
        assert gov.budget_left == budget(name, 4, 500)
    settings = Settings(plan="Premium", seats=2, topup_tokens=10_000, timezone="America/Chicago")
    gov = RateGovernor.from_settings(settings)
    assert (gov.limit, gov.daily_budget, gov.timezone) == (100, 310_000, "America/Chicago")
    gov.observe({}, 5)  # no header tells the budget left: the governor counts
    assert gov.budget_left == 310_000 - 5
    assert gov.will_exhaust(310_000) and not gov.will_exhaust(300_000)


@pytest.mark.parametrize(
    ("zone", "before", "after", "utc_midnight"),
    [
        # Chicago (CDT, UTC-5): local midnight is 05:00 UTC; UTC midnight is 19:00 local
        ("America/Chicago", datetime(2026, 7, 15, 4, 59, 59, tzinfo=UTC),
         datetime(2026, 7, 15, 5, 0, 1, tzinfo=UTC), datetime(2026, 7, 15, 0, 0, 1, tzinfo=UTC)),
        # Auckland (NZST, UTC+12): local midnight is 12:00 UTC; UTC midnight is noon local
        ("Pacific/Auckland", datetime(2026, 7, 15, 11, 59, 59, tzinfo=UTC),
         datetime(2026, 7, 15, 12, 0, 1, tzinfo=UTC), datetime(2026, 7, 15, 0, 0, 1, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_the_governor_and_the_sandbox_reset_at_local_midnight(
    zone: str, before: datetime, after: datetime, utc_midnight: datetime
) -> None:
    # the governor's own count
    clock = Clock(utc_midnight - timedelta(seconds=2))
    gov = RateGovernor.for_plan("lite", timezone=zone, now=clock)
    gov.observe({}, 1_000)
    clock.set(utc_midnight)  # UTC midnight passes: the same budget day in the account
    assert gov.budget_left == 29_000
    gov.observe({"x-daily-requests-left": "28000"}, 5)
    clock.set(before)
    assert gov.budget_left == 28_000
    assert gov.seconds_until_reset() == pytest.approx(1)
    assert gov.next_reset() == after - timedelta(seconds=1)
    clock.set(after)  # local midnight: a full budget again, the old header figure forgotten
    assert gov.budget_left == 30_000 and gov.spent_today == 0

    # the sandbox's count: a spent budget is refused until local midnight, then admitted
    sb_clock = Clock(utc_midnight - timedelta(seconds=2))
    limiter = RateLimiter(
        SandboxConfig(plan="Lite", daily_budget=10, timezone=zone), Counter(), now=sb_clock
    )
    assert limiter.admit("POST", "/api/v2/persons", "t")[1] is None
    assert limiter.admit("POST", "/api/v2/persons", "t")[1] is None
    sb_clock.set(utc_midnight)
    headers, refused = limiter.admit("POST", "/api/v2/persons", "t")
    assert refused is not None and refused.status_code == 429
    sb_clock.set(before)
    headers, refused = limiter.admit("POST", "/api/v2/persons", "t")
    assert refused is not None and headers["retry-after"] == "1"
    sb_clock.set(after)
    headers, refused = limiter.admit("POST", "/api/v2/persons", "t")
    assert refused is None and limiter.tokens_used == 5


@pytest.mark.parametrize("spelled", SPELLINGS)
def test_the_sandbox_takes_every_plan_with_its_figures(spelled: str) -> None:
    name = spelled.strip().lower()
    config = SandboxConfig(plan=spelled, seats=3, topup_tokens=7)
    assert (config.burst(), config.budget()) == (FIGURES[name][1], budget(name, 3, 7))
    limiter = RateLimiter(config, Counter())
    headers, refused = limiter.admit("GET", "/api/v2/persons", "t")
    assert refused is None and headers["x-ratelimit-limit"] == str(FIGURES[name][1])
    assert limiter.budget_left() == budget(name, 3, 7) - 10
    search, _ = limiter.admit("GET", "/api/v2/persons/search", "t")
    assert search["x-ratelimit-limit"] == "10"


def test_the_sandbox_refuses_an_unknown_plan_when_it_starts() -> None:
    with pytest.raises(plans.UnknownPlan):
        RateLimiter(SandboxConfig(plan="gold"), Counter())


# --- the pause says when the budget resets ------------------------------------------------------
def test_a_spent_budget_stops_with_the_local_reset_time() -> None:
    """No Retry-After: the governor's clock and the account's zone say when the budget resets."""

    def spent(request: httpx.Request) -> httpx.Response:
        body = {"success": False, "error": "Daily token budget exhausted", "data": None}
        return httpx.Response(429, json=body, headers={"x-daily-requests-left": "0"})

    clock = Clock(datetime(2026, 7, 15, 9, 0, tzinfo=UTC))  # 21:00 in Auckland
    gov = RateGovernor.for_plan("growth", timezone="Pacific/Auckland", now=clock)

    async def go() -> None:
        transport = httpx.MockTransport(spent)
        async with PipedriveClient("https://acme.pipedrive.com/api", "t", gov,
                                   transport=transport) as pd:  # fmt: skip
            await pd.create("persons", {"name": "Ada"})

    with pytest.raises(BudgetExhausted) as info:
        asyncio.run(go())
    assert info.value.retry_after == 3 * 3600
    assert "resets at 2026-07-16 00:00 Pacific/Auckland" in info.value.message


def test_the_sandbox_and_the_client_agree_on_the_local_reset() -> None:
    config = SandboxConfig(daily_budget=5, timezone="America/Chicago")
    with running_sandbox(config) as sb:

        async def go() -> None:
            gov = RateGovernor(timezone="America/Chicago")
            async with PipedriveClient(sb.base_url, sb.api_token, gov) as pd:
                await pd.create("persons", {"name": "A"})
                await pd.create("persons", {"name": "B"})

        with pytest.raises(BudgetExhausted) as info:
            asyncio.run(go())
    left = plans.seconds_until_reset(plans.utc_now(), "America/Chicago")
    assert abs(info.value.retry_after - left) < 5
    midnight = plans.next_reset(plans.utc_now(), "America/Chicago")
    assert f"resets at {midnight:%Y-%m-%d} 00:00 America/Chicago" in info.value.message
