"""Practice time: an appointment at 10:30 on the practice's clock lands at the right UTC instant on
a daylight-saving date and on a standard-time date, read back from the sandbox, and the diff
shows each time in the practice's zone beside what Pipedrive stores."""

from __future__ import annotations

import csv
from pathlib import Path

from flitstack.api import Migrator
from flitstack.engine.verify import write_diff
from flitstack.project import Project
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export
from flitstack.source.schema import role

#: 10:30 in Chicago: CDT (UTC-5) in July, CST (UTC-6) in January
AT_1030 = {"2026-07-15 10:30": ("2026-07-15", "15:30"), "2026-01-14 10:30": ("2026-01-14", "16:30")}


def _set_start_times(export: Path) -> list[str]:
    """Give the first two appointments 10:30 starts on a DST and a standard-time date."""
    path = export / "appointments.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    start, ident = (
        header.index(role("appointments", "start_date_time")),
        header.index(role("appointments", "appointment_id")),
    )
    status = header.index(role("appointments", "status"))
    ids = []
    for row, when in zip(rows[1:3], AT_1030, strict=True):
        row[start] = when
        row[status] = "Scheduled"
        ids.append(row[ident])
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return ids


def test_1030_practice_time_lands_at_the_right_utc_instant_in_and_out_of_dst(
    tmp_path: Path,
) -> None:
    export = tmp_path / "export"
    generate_export(export, 6, seed=4)
    ids = _set_start_times(export)
    project = Project(
        root=tmp_path,
        settings=Settings(),
        workbook=tmp_path / "map.yaml",
        state=tmp_path / "state.sqlite",
        reports=tmp_path / "reports",
    )  # fmt: skip  (no time zone set: the export's America/Chicago is used)
    with running_sandbox(SandboxConfig(burst_limit=1000, search_burst_limit=1000)) as sb:
        m = Migrator(project, token=sb.api_token, api_root=sb.base_url)
        m.propose(export)
        m.confirm(by="Test", protection_as_proposed=True)
        m.migrate(export, skip_sample_gate=True)
        diff = m.verify(export)
        activities = sb.dump()["activities"]
    landed = {}
    for activity in activities:
        for wanted in ids:
            if f"MDC ref: appointments:{wanted}<" in str(activity.get("note")):
                landed[wanted] = (activity["due_date"], str(activity["due_time"])[:5])
    assert [landed[i] for i in ids] == list(AT_1030.values())
    assert diff.timezone == "America/Chicago"
    html, csv_path = write_diff(diff, tmp_path / "reports", "Full migration")
    shown = csv_path.read_text(encoding="utf-8")
    assert "2026-07-15 10:30 CDT (America/Chicago)" in shown
    assert "2026-01-14 10:30 CST (America/Chicago)" in shown
    page = html.read_text(encoding="utf-8")
    assert "as the practice reads them" in page and "CDT (America/Chicago)" in page
