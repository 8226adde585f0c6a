"""Setup cannot go wrong quietly: a fallback owner who is not an active user of the account is
refused before anything is written, naming the users; deactivated users are never matched."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from flitstack.api import Migrator
from flitstack.engine.migration import FallbackOwnerUnknown
from flitstack.project import Project
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export
from flitstack.source.schema import role


def _project(root: Path, fallback: str) -> Project:
    return Project(
        root=root, settings=Settings(fallback_owner_email=fallback), workbook=root / "m.yaml",
        state=root / "s.sqlite", reports=root / "reports",
    )  # fmt: skip


def test_an_unknown_or_inactive_fallback_owner_is_refused_before_any_write(
    tmp_path: Path,
) -> None:
    export = tmp_path / "export"
    generate_export(export, 5, seed=8)
    with (export / "providers.csv").open(newline="", encoding="utf-8") as fh:
        providers = list(csv.DictReader(fh))
    email_of = role("providers", "email")
    gone = providers[0][email_of]
    users = [{"name": "Front Desk", "email": "desk@practice.example"},
             {"name": "Left", "email": gone, "active": False}]  # fmt: skip
    with running_sandbox(SandboxConfig(burst_limit=1000), users=users) as sb:
        before = sb.dump()
        for fallback in ("nobody@practice.example", gone):
            m = Migrator(_project(tmp_path, fallback), token=sb.api_token, api_root=sb.base_url)
            m.propose(export)
            m.confirm(by="Test", protection_as_proposed=True)
            with pytest.raises(FallbackOwnerUnknown) as refused:
                m.setup(export)
            assert fallback in str(refused.value) and "desk@practice.example" in str(refused.value)
            assert refused.value.exit_code == 3
            assert sb.dump() == before
        m = Migrator(_project(tmp_path, "desk@practice.example"), token=sb.api_token,
                     api_root=sb.base_url)  # fmt: skip
        resolution = {r["email"]: r for r in m.setup(export)}
    # the deactivated user's provider goes to the fallback owner, never to the inactive user
    assert "fallback owner" in resolution[gone]["resolution"]
