"""Patient data protection commands: ``forget`` (erasure of patients) and ``purge`` (a finished
project's local copies of patient data)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from flitstack.api import Migrator
from flitstack.cli_engine import ApiRootOption, ProjectOption, open_project
from flitstack.reporting import cli_console

console = cli_console()


def register(app: typer.Typer) -> None:
    @app.command()
    def forget(
        patient_ids: list[str] = typer.Argument(..., help="MDC patient IDs to erase"),
        project: Path = ProjectOption,
        api_root: str = ApiRootOption,
        yes: bool = typer.Option(False, "--yes", help="do not ask before deleting"),
    ) -> None:
        """Erase patients: their person and every linked record deleted from Pipedrive, and
        their rows purged from the local state and reports (an audit line without personal
        data stays)."""
        proj = open_project(project)
        if not yes and not typer.confirm(
            f"Delete {len(patient_ids)} patient(s) and everything linked to them from "
            "Pipedrive and from this project?"
        ):
            raise typer.Exit(1)
        result = Migrator(proj, api_root=api_root or None).forget(patient_ids)
        deleted = ", ".join(f"{n} {kind}" for kind, n in result["deleted"].items()) or "nothing"
        console.print(f"forgot {result['patients']} patient(s): deleted {deleted}")
        if result["not_found"]:
            console.print(
                f"[yellow]not in this migration:[/] {escape(', '.join(result['not_found']))}"
            )

    @app.command()
    def purge(
        project: Path = ProjectOption,
        yes: bool = typer.Option(False, "--yes", help="do not ask before removing"),
    ) -> None:
        """Remove a finished project's local copies of patient data: the state, the reports,
        the run report and the examples in the workbook (the decisions stay)."""
        proj = open_project(project)
        if not yes and not typer.confirm(
            f"Remove the migration state, reports and examples of {proj.root}? Rollback and "
            "delta are no longer possible afterwards."
        ):
            raise typer.Exit(1)
        purged = Migrator(proj).purge()
        for path in purged.removed:
            console.print(f"removed {escape(str(path))}")
        for path in purged.scrubbed:
            console.print(f"examples removed from {escape(str(path))}")
