"""Commands of the engine: setup, migrate (sample or full), rollback, audit-log."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from flitstack.engine.migration import LoadSummary, Migration
from flitstack.engine.state import StateStore
from flitstack.mapping.confirm import MapNotConfirmed
from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.errors import BudgetExhausted, PipedriveError
from flitstack.reporting import write_csv, write_private
from flitstack.settings import Settings

console = Console()
T = TypeVar("T")


def run_with_progress(
    api_root: str,
    token: str,
    export: Path,
    workbook: Path,
    state_path: Path,
    settings: Settings,
    action: Callable[[Migration], Awaitable[T]],
) -> T:
    """Open the state and client, show a progress bar per step, run ``action``."""
    state = StateStore(state_path)
    with Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        tasks: dict[str, Any] = {}

        def tick(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total)
            progress.update(tasks[step], completed=done, total=total)

        async def main() -> T:
            async with PipedriveClient(api_root, token) as pd:
                migration = Migration(export, workbook, state, pd, settings, progress=tick)
                return await action(migration)

        try:
            return asyncio.run(main())
        finally:
            state.close()


def print_summary(summary: LoadSummary) -> None:
    table = Table("file", "rows", "migrated", "merged", "rejected", "skipped", title="Load summary")
    for f, n in sorted(summary.source_rows.items()):
        table.add_row(
            f, str(n), str(summary.migrated[f]), str(summary.merged[f]),
            str(summary.rejected[f]), str(summary.skipped[f]),
        )  # fmt: skip
    console.print(table)
    missing = summary.unaccounted()
    console.print(
        "[green]every source row is accounted for[/]"
        if not missing
        else f"[red]unaccounted: {missing}[/]"
    )


def _token(settings: Settings) -> str:
    token = os.environ.get(settings.token_env, "")
    if not token:
        try:
            import keyring

            token = keyring.get_password("flitstack", settings.company_domain or "default") or ""
        except Exception:
            token = ""
    if not token:
        console.print(
            f"[bold red]error:[/] no Pipedrive API token: set {settings.token_env} or run "
            "`flitstack token set`"
        )
        raise typer.Exit(2)
    return token


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command()
    def migrate(
        export: Path = typer.Argument(..., help="export folder or .zip"),
        workbook: Path = typer.Option(Path("flitstack-map.yaml"), help="confirmed field map"),
        state: Path = typer.Option(Path("flitstack-state.sqlite"), help="migration state file"),
        sample: int = typer.Option(0, help="migrate only N patients covering the hard cases"),
        api_root: str = typer.Option(None, help="API root (default: from settings)"),
    ) -> None:
        """Load the export into Pipedrive in dependency order; resumable, exactly once."""
        settings = Settings()
        root = api_root or settings.api_root()
        try:
            summary = run_with_progress(
                root, _token(settings), export, workbook, state, settings,
                lambda m: m.migrate(sample or None, "sample" if sample else "migrate"),
            )  # fmt: skip
        except MapNotConfirmed as exc:
            console.print(f"[bold red]refused:[/] {exc}")
            raise typer.Exit(3) from exc
        except BudgetExhausted as exc:
            console.print(
                f"[yellow]paused:[/] the daily token budget is spent ({exc.message}). "
                f"Run the same command again in {exc.retry_after / 3600:.1f} h: it resumes."
            )
            raise typer.Exit(4) from exc
        except PipedriveError as exc:
            console.print(f"[bold red]Pipedrive error:[/] {exc}")
            raise typer.Exit(5) from exc
        print_summary(summary)

    @app.command()
    def rollback(
        export: Path = typer.Argument(..., help="the export that was migrated"),
        workbook: Path = typer.Option(Path("flitstack-map.yaml")),
        state: Path = typer.Option(Path("flitstack-state.sqlite")),
        api_root: str = typer.Option(None),
    ) -> None:
        """Delete what the migration created, restore what it changed, and prove it."""
        settings = Settings()
        result = run_with_progress(
            api_root or settings.api_root(), _token(settings), export, workbook, state, settings,
            lambda m: m.rollback(),
        )  # fmt: skip
        console.print(f"deleted: {result['deleted']}; restored: {result['restored']}")
        if result["differences"]:
            console.print(f"[red]{len(result['differences'])} differences remain:[/]")
            for line in result["differences"][:20]:
                console.print(f"  {line}")
            raise typer.Exit(1)
        console.print("[green]the account matches its state before the migration[/]")

    @app.command("audit-log")
    def audit_log(
        state: Path = typer.Option(Path("flitstack-state.sqlite")),
        out: Path = typer.Option(Path("flitstack-audit-log.csv"), help=".csv or .jsonl"),
    ) -> None:
        """Export the audit log of every write (CSV or JSONL)."""
        rows = StateStore(state).audit_rows()
        if out.suffix == ".jsonl":
            write_private(out, "".join(json.dumps(r) + "\n" for r in rows))
        else:
            header = list(rows[0]) if rows else ["id"]
            write_csv(out, header, ([r[h] for h in header] for r in rows))
        console.print(f"{len(rows)} writes → {out}")
