"""Commands for planning: ``flitstack estimate`` and ``flitstack rebuild-reference``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from flitstack.cli_engine import open_project
from flitstack.cli_source import project_workbook
from flitstack.journey.estimate import SAMPLE_PATIENTS, estimate_migration, write_estimate
from flitstack.journey.rebuild import MANUAL, build_reference, write_reference
from flitstack.pipedrive.plans import PLAN_BURST, UnknownPlan
from flitstack.reporting import cli_console
from flitstack.source.reader import ExportError

console = cli_console()
OutOption = typer.Option(None, help="folder for HTML, CSV, JSON (default: project reports)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command()
    def estimate(
        export: Path = typer.Argument(..., help="export folder or .zip"),
        plan: str = typer.Option(None, help=f"Pipedrive plan: {', '.join(PLAN_BURST)}"),
        seats: int = typer.Option(None, help="paid seats (default: from the project file)"),
        sample: int = typer.Option(SAMPLE_PATIENTS, help="patients in the sample migration"),
        out: Path = OutOption,
    ) -> None:
        """Complexity grade, API requests and tokens per object, days of budget, wall time."""
        project = open_project(None)
        settings = project.settings
        workbook = project_workbook(project)
        doing = "counting the export" + ("" if workbook else " and proposing the map")
        try:
            with console.status(f"{doing}…"):
                est = estimate_migration(
                    export, plan or settings.plan, seats or settings.seats, settings, sample,
                    workbook=workbook,
                )  # fmt: skip
        except (UnknownPlan, ExportError, ValueError) as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from exc
        table = Table("object", "requests", "tokens each", "tokens", title="API use by object")
        for load in est.loads:
            table.add_row(load.object, f"{load.records:,}", load.tokens_each, f"{load.tokens:,}")
        table.add_row("[bold]total", f"[bold]{est.requests:,}", "", f"[bold]{est.tokens:,}")
        console.print(table)
        console.print(
            f"Complexity [bold]{est.grade.letter} · {est.grade.label}[/]: "
            + "; ".join(est.grade.reasons)
        )
        console.print(
            f"Daily budget {est.daily_budget:,} tokens ({est.plan}, {est.seats} "
            f"seat{'s' if est.seats != 1 else ''}) → "
            f"[bold]{est.days} day{'s' if est.days != 1 else ''}[/]; "
            f"about {est.wall_seconds / 3600:.1f} h of sending at {est.burst_per_2s} requests "
            "per 2 s"
        )
        html, _ = write_estimate(est, out or project.reports)
        console.print(f"estimate: {html} (+ estimate.json)")

    @app.command("rebuild-reference")
    def rebuild_reference(
        export: Path = typer.Argument(..., help="export folder or .zip"),
        out: Path = OutOption,
    ) -> None:
        """MDC automations and recall sequences as a guide to rebuild them in Pipedrive."""
        project = open_project(None)
        try:
            ref = build_reference(export, workbook=project_workbook(project))
        except ExportError as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from exc
        table = Table("rule", "MDC trigger", "Pipedrive", title="Automations to rebuild")
        for r in ref.rules:
            verdict = r.verdict
            colour = "yellow" if verdict.startswith(MANUAL) else "green"
            table.add_row(
                escape(f"{r.rule_id}. {r.name}"), escape(r.trigger), f"[{colour}]{escape(verdict)}"
            )
        console.print(table)
        counts = ref.counts()
        html, _ = write_reference(ref, out or project.reports)
        console.print(
            f"{counts['rebuild']} rules to rebuild as shown, {counts['manual']} need a manual "
            f"decision, {counts['recall_types']} recall sequences → {html} (+ CSV)"
        )
