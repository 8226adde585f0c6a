"""The per-document size limit is the project's setting (default: Pipedrive's limit per file):
a document over it is reported on its row with the reason, never read or uploaded."""

from __future__ import annotations

from pathlib import Path

from flitstack.api import Migrator
from flitstack.project import Project
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export


def test_documents_over_the_projects_limit_are_rejected_with_the_reason(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 8, seed=6)
    sizes = sorted(p.stat().st_size for p in (export / "documents").rglob("*") if p.is_file())
    limit_mb = (sizes[0] + 1) / 1024**2  # the smallest documents go, the others are larger
    project = Project(
        root=tmp_path, settings=Settings(max_document_mb=limit_mb), workbook=tmp_path / "m.yaml",
        state=tmp_path / "s.sqlite", reports=tmp_path / "reports",
    )  # fmt: skip
    with running_sandbox(SandboxConfig(burst_limit=1000, search_burst_limit=1000)) as sb:
        m = Migrator(project, token=sb.api_token, api_root=sb.base_url)
        m.propose(export)
        m.confirm(by="Test", protection_as_proposed=True)
        summary = m.migrate(export, skip_sample_gate=True)
        uploaded = sb.dump()["files"]
    assert summary.unaccounted() == {}
    limit = limit_mb * 1024**2
    assert uploaded and all(f["file_size"] <= limit for f in uploaded if "documents" in f["name"])
    assert summary.rejected["documents"] >= 1
    from flitstack.engine.state import StateStore

    reasons = [o["reason"] for o in StateStore(tmp_path / "s.sqlite").outcomes(None)
               if o["file"] == "documents" and o["outcome"] == "rejected"]  # fmt: skip
    assert any("limit per file: not uploaded" in r for r in reasons), reasons
