"""Custom fields are created under names the practice's staff read ("Date of birth"); the
technical key stays their identity, and accounts set up with the old key names keep working."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flitstack.api import Migrator
from flitstack.engine.migration import field_labels
from flitstack.mapping.known import field_label
from flitstack.pipedrive.client import PipedriveClient
from flitstack.project import Project
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export


def test_labels_read_as_words_and_never_clash() -> None:
    assert field_label("date_of_birth__c") == "Date of birth"
    assert field_label("outstanding_balance__c") == "Outstanding balance"
    assert field_label("recall_interval_months__c") == "Recall interval (months)"
    assert field_label("Chair preference") == "Chair preference"  # a practice's own name
    labels = field_labels([("person", "chair_preference__c"), ("person", "Chair preference"),
                           ("deal", "chair_preference__c")])  # fmt: skip
    assert labels[("person", "chair_preference__c")] == "chair_preference__c"
    assert labels[("deal", "chair_preference__c")] == "Chair preference"


def test_setup_names_fields_for_people_and_reuses_old_key_names(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 4, seed=7)
    project = Project(
        root=tmp_path, settings=Settings(timezone="America/Chicago"), workbook=tmp_path / "m.yaml",
        state=tmp_path / "s.sqlite", reports=tmp_path / "reports",
    )  # fmt: skip
    with running_sandbox(SandboxConfig(burst_limit=1000)) as sb:

        async def old_account() -> str:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                made = await pd.create_field("person", "date_of_birth__c", "date")
                return str(made["field_code"])

        old_code = asyncio.run(old_account())
        m = Migrator(project, token=sb.api_token, api_root=sb.base_url)
        m.propose(export)
        m.confirm(by="Test", protection_as_proposed=True)
        m.setup(export)
        m.setup(export)  # again: nothing new
        names = [f["field_name"] for f in sb.dump()["personFields"]]
    assert "Outstanding balance" in names and "MDC ID" in names
    assert "date_of_birth__c" in names and "Date of birth" not in names  # reused, not doubled
    assert len(names) == len(set(names))
    assert old_code
