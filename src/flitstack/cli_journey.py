"""The journey: ``flitstack demo`` runs the whole migration on the bundled sample."""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from flitstack.cli_engine import print_summary
from flitstack.cli_source import run_audit
from flitstack.engine.migration import LoadSummary, Migration
from flitstack.engine.state import StateStore
from flitstack.mapping.confirm import Confirmation, confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.reporting import private_dir, write_csv, write_html
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import bundled_sample_path

console = Console()


def write_run_report(
    out: Path,
    export: Path,
    api_root: str,
    confirmation: Confirmation,
    summary: LoadSummary,
    state: StateStore,
    resolution: list[dict[str, str]],
    links: list[tuple[str, str]],
    rollback_status: str,
    rate: float = 0.0,
) -> Path:
    """The run report: one offline HTML page, every number from the state store."""
    outcomes = state.outcomes()
    issues = Counter((o["outcome"], o["reason"].split(";")[0][:90]) for o in outcomes)
    audit = state.audit_rows()
    created = {k: v.get("created", 0) for k, v in state.counts().items()}
    return write_html(
        out / "report.html",
        "run_report.html.j2",
        project=str(out),
        export=str(export),
        api_root=api_root,
        confirmation=confirmation,
        summary=summary.as_dict(),
        created=created,
        issues=issues.most_common(40),
        resolution=resolution,
        writes=len(audit),
        tokens=sum(int(a["token_cost"] or 0) for a in audit),
        rate=rate,
        rollback_status=rollback_status,
        links=links,
    )


def run_demo(out: Path, export: Path | None = None, sample: int = 25) -> dict[str, Any]:
    """Audit → propose → confirm → setup → sample → full migration → report, on the sandbox."""
    private_dir(out)
    export = export or bundled_sample_path()
    settings = Settings(timezone="America/Chicago", fallback_owner_email="admin@sandbox.example")
    console.rule("1. Audit the export")
    report, paths = run_audit(export, out / "audit", settings)
    console.print(f"{report.rows_read:,} rows read; inventory: {paths.html}")
    console.rule("2. Propose the field map")
    workbook = save_workbook(propose_map(export, settings), out / "flitstack-map.yaml")
    console.print(f"workbook: {workbook}")
    console.rule("3. Confirm the map")
    confirmation = confirm_workbook(workbook, "flitstack demo (on your behalf)")
    console.print(
        "[yellow]The demo confirms the map on your behalf; in a real migration you do.[/]"
    )
    state = StateStore(out / "flitstack-state.sqlite")
    config = SandboxConfig(
        plan="enterprise",
        seats=10,
        seed_users=[
            {"name": "Sandbox Admin", "email": "admin@sandbox.example"},
            {"name": "Dr. Practice Owner", "email": "owner@practice.example"},
        ],
        seed_persons=[{"name": "Existing Contact"}],
        seed_organizations=[{"name": "Existing Organization"}],
    )
    with running_sandbox(config) as sb:
        console.print(f"embedded Pipedrive sandbox at {sb.base_url}")
        from flitstack.cli_engine import run_with_progress

        def step(label: str, sample_size: int | None) -> LoadSummary:
            console.rule(label)
            return run_with_progress(
                sb.base_url, sb.api_token, export, workbook, state.path, settings,
                lambda m: m.migrate(sample_size, "sample" if sample_size else "migrate"),
            )  # fmt: skip

        step(f"4. Setup and sample migration ({sample} patients)", sample)
        summary = step("5. Full migration", None)
        print_summary(summary)

        async def resolution() -> list[dict[str, str]]:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                m = Migration(export, workbook, state, pd, settings)
                await m.setup()
                return m.resolution

        providers = asyncio.run(resolution())
        write_csv(
            out / "provider-resolution.csv",
            ["provider", "name", "email", "user_id", "resolution"],
            (
                [r[k] for k in ("provider", "name", "email", "user_id", "resolution")]
                for r in providers
            ),
        )
        dump = sb.dump()
    outcomes = state.outcomes()
    write_csv(
        out / "rejects-and-flags.csv",
        ["file", "source_id", "line", "field", "outcome", "reason"],
        (
            [o[k] for k in ("file", "source_id", "line", "field", "outcome", "reason")]
            for o in outcomes
        ),
    )
    links = [
        ("Schema inventory", "audit/schema-inventory.html"),
        ("Field map (confirmed)", "flitstack-map.html"),
        ("Provider resolution", "provider-resolution.csv"),
        ("Rejected and flagged values", "rejects-and-flags.csv"),
    ]
    from flitstack.cli_mapping import write_workbook_html
    from flitstack.mapping.workbook import load_workbook

    write_workbook_html(load_workbook(workbook), workbook)
    report_path = write_run_report(
        out, export, "embedded sandbox", confirmation, summary, state, providers, links,
        "not run: `flitstack rollback` deletes what was created and proves the account is back",
    )  # fmt: skip
    state.close()
    return {"report": report_path, "summary": summary, "dump": dump}


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command()
    def demo(
        out: Path = typer.Option(None, help="project folder (default: a new temp folder)"),
        sample: int = typer.Option(25, help="patients in the sample migration"),
    ) -> None:
        """Run the whole migration on the bundled sample export against the embedded sandbox."""
        folder = out or Path(tempfile.mkdtemp(prefix="flitstack-demo-"))
        result = run_demo(folder, sample=sample)
        console.rule("Done")
        console.print(f"Report: [bold]{result['report']}[/]")
