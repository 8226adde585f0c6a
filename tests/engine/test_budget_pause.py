"""A run that cannot fit in the day's token budget: told up front, stops cleanly, resumes."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from flitstack.engine.migration import LoadSummary, Migration
from flitstack.engine.state import StateStore
from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.errors import BudgetExhausted
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export

SETTINGS = Settings(timezone="America/Chicago")


def test_budget_forecast_then_clean_stop_then_resume_after_reset(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 20, seed=17)
    workbook = save_workbook(propose_map(export, SETTINGS), tmp_path / "map.yaml")
    confirm_workbook(workbook, "test", protection_as_proposed=True)
    state = tmp_path / "state.sqlite"
    notices: list[str] = []
    config = SandboxConfig(burst_limit=1000, search_burst_limit=1000, daily_budget=1200)
    with running_sandbox(config) as sb:

        def run() -> LoadSummary:
            async def go() -> LoadSummary:
                async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                    m = Migration(
                        export, workbook, StateStore(state), pd, SETTINGS, notice=notices.append
                    )
                    return await m.migrate()

            return asyncio.run(go())

        with pytest.raises(BudgetExhausted) as stopped:
            run()
        assert stopped.value.retry_after > 0
        assert len(notices) == 1
        assert "API tokens" in notices[0] and "resumes where it stopped" in notices[0]
        partial = sb.dump()
        assert partial["persons"]  # work up to the budget was done, not wasted

        # each "next day" the budget resets and the same call resumes, until it is done
        summary, days = None, 1
        while summary is None and days < 15:
            sb.reset_budget()
            days += 1
            with contextlib.suppress(BudgetExhausted):
                summary = run()
        assert summary is not None and days >= 2
        assert summary.unaccounted() == {}
        dump: dict[str, Any] = sb.dump()
        created = StateStore(state).counts()
        for kind in ("persons", "activities", "deals", "notes", "files"):
            assert len(dump[kind]) == created[kind]["created"], kind
        markers = [a["note"].rsplit("MDC ref: ", 1)[-1] for a in dump["activities"]]
        assert len(markers) == len(set(markers))
        assert len(notices) <= days  # at most one forecast per run, never per request
