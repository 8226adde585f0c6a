"""The client against the sandbox over real loopback HTTP: limits, budget, faults, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.errors import (
    BudgetExhausted,
    NotFound,
    ResponseLost,
    Unauthorized,
    ValidationFailed,
)
from flitstack.sandbox.server import SandboxConfig, running_sandbox


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_burst_limit_is_respected_and_429s_are_retried() -> None:
    config = SandboxConfig(plan="essential", burst_limit=8)
    with running_sandbox(config) as sb:

        async def go() -> tuple[int, int]:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                pd.governor.limit = 30  # a wrong guess: the headers must correct it
                made = await asyncio.gather(
                    *(pd.create("persons", {"name": f"P{i}"}) for i in range(30))
                )
                return len({p["id"] for p in made}), pd.governor.limit

        created, learned = run(go())
        assert created == 30 and learned == 8
        assert len(sb.dump()["persons"]) == 30  # no duplicate from the retried 429s
        assert sb.stats().get("429_burst", 0) >= 1


def test_budget_exhaustion_is_a_typed_stop_with_retry_after() -> None:
    with running_sandbox(SandboxConfig(daily_budget=12)) as sb:

        async def go() -> None:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                await pd.create("persons", {"name": "A"})
                await pd.create("persons", {"name": "B"})
                await pd.create("persons", {"name": "C"})

        with pytest.raises(BudgetExhausted) as info:
            run(go())
        assert info.value.retry_after > 60
        assert len(sb.dump()["persons"]) == 2
        sb.reset_budget()
        run(PipedriveClient(sb.base_url, sb.api_token).create("persons", {"name": "C"}))


def test_5xx_reads_are_retried_and_lost_creates_are_reported_not_repeated() -> None:
    with running_sandbox(SandboxConfig(seed=3)) as sb:

        async def go() -> None:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                person = await pd.create("persons", {"name": "Kept"})
                sb.set_faults(fault_5xx_rate=0.5)
                for _ in range(10):
                    assert (await pd.get("persons", person["id"]))["name"] == "Kept"
                sb.set_faults(fault_5xx_rate=0.0, fault_lost_response_rate=1.0)
                with pytest.raises(ResponseLost):
                    await pd.create("persons", {"name": "Lost but written"})
                sb.set_faults(fault_lost_response_rate=0.0)

        run(go())
        names = [p["name"] for p in sb.dump()["persons"]]
        assert names == ["Kept", "Lost but written"]  # written once, never blindly re-sent
        assert sb.stats()["5xx"] >= 1


def test_errors_carry_pipedrives_message() -> None:
    with running_sandbox() as sb:

        async def go() -> None:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                with pytest.raises(NotFound, match="not found"):
                    await pd.get("persons", 999)
                with pytest.raises(ValidationFailed, match="Unknown custom field"):
                    await pd.create("persons", {"name": "X", "custom_fields": {"nope": 1}})
            async with PipedriveClient(sb.base_url, "wrong-token") as bad:
                with pytest.raises(Unauthorized):
                    await bad.me()

        run(go())


def test_custom_fields_are_hash_keyed_per_account_and_type_checked() -> None:
    async def make_field(base: str, token: str) -> str:
        async with PipedriveClient(base, token) as pd:
            field = await pd.create_field("person", "Chair", "enum", ["Window", "Hallway"])
            option = field["options"][0]["id"]
            person = await pd.create(
                "persons", {"name": "A", "custom_fields": {field["field_code"]: option}}
            )
            assert person["custom_fields"][field["field_code"]] == option
            with pytest.raises(ValidationFailed, match="option"):
                await pd.create(
                    "persons", {"name": "B", "custom_fields": {field["field_code"]: 9999}}
                )
            found = await pd.search("persons", "A", fields="name")
            assert [p["id"] for p in found] == [person["id"]]
            return str(field["field_code"])

    with running_sandbox() as one, running_sandbox() as two:
        key_one = run(make_field(one.base_url, one.api_token))
        key_two = run(make_field(two.base_url, two.api_token))
    assert len(key_one) == 40 and len(key_two) == 40 and key_one != key_two
