"""Commands of the source area: generate a sample export, audit an export."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flitstack.api import audit_and_write
from flitstack.cli_engine import open_project
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import Workbook, WorkbookError, load_workbook
from flitstack.project import Project
from flitstack.reporting import cli_console
from flitstack.settings import Settings
from flitstack.source.audit import AuditReport
from flitstack.source.audit_report import AuditPaths, damage_rows, reading_notes
from flitstack.source.generator import generate_export
from flitstack.source.mess import MessRates
from flitstack.source.reader import ExportError, open_export

console = cli_console()


def project_workbook(project: Project) -> Workbook | None:
    """The project's map (confirmed or not) when its workbook file exists, else None.

    Commands that read an export before the migration (audit, estimate, rebuild reference)
    read it through this map's bindings; without one they use the proposal for the export. A
    workbook that cannot be read is reported, and the proposal used instead.
    """
    if not project.workbook.is_file():
        return None
    try:
        wb = load_workbook(project.workbook)
    except WorkbookError as exc:
        console.print(
            f"[yellow]warning:[/] {escape(str(exc))}; the export is read through the "
            "proposed map instead"
        )
        return None
    console.print(f"[dim]headers read as the map {escape(str(project.workbook))} says[/]")
    return wb


def run_audit(
    export_path: Path,
    out: Path,
    settings: Settings,
    unmask: bool = False,
    workbook: Workbook | None = None,
) -> tuple[AuditReport, AuditPaths]:
    """Audit with a progress bar and write the inventory, with targets from the map proposal.

    The damage checks read the export through ``workbook``'s bindings (the project's map), or
    through the proposal's when there is none.
    """

    bindings = Bindings.from_workbook(workbook) if workbook is not None else None

    with (
        open_export(export_path) as export,
        Progress(
            TextColumn("[bold]auditing[/] {task.fields[file]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("audit", total=None, file="")
        counter = {"n": 0}

        def tick(name: str) -> None:
            counter["n"] += 1
            if counter["n"] % 2000 == 0:
                progress.update(task, completed=counter["n"], file=name)

        overrides = workbook.manifest_overrides if workbook is not None else None
        return audit_and_write(export, out, settings, unmask=unmask, on_row=tick,
                               bindings=bindings, overrides=overrides)  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("sample-export")
    def sample_export(
        out: Path = typer.Argument(..., help="folder to write (replaced if it exists)"),
        patients: int = typer.Option(300, min=1, help="number of patients"),
        seed: int = typer.Option(1, help="random seed: same seed, same bytes"),
        mess_rate: float = typer.Option(1.0, min=0.0, help="multiply every mess rate by this"),
        clean: bool = typer.Option(False, help="inject no mess at all"),
        as_zip: bool = typer.Option(False, "--zip", help="write OUT.zip instead of a folder"),
    ) -> None:
        """Write a realistic MDC export (all files, documents, export.json) with injected mess."""
        mess = MessRates.clean() if clean else MessRates().scaled(mess_rate)
        with console.status(f"generating {patients} patients…"):
            result = generate_export(out, patients, seed, mess, zip=as_zip)
        table = Table("file", "rows", title=f"Export written to {result.path}")
        for name, n in sorted(result.rows.items()):
            table.add_row(name, f"{n:,}")
        console.print(table)

    @app.command()
    def audit(
        export: Path = typer.Argument(..., help="export folder or .zip"),
        out: Path = typer.Option(None, help="report folder (default: EXPORT-audit)"),
        unmask: bool = typer.Option(False, help="show personal values unmasked in the report"),
    ) -> None:
        """Audit an export: every file and column, its type, nulls, problems and target."""
        out = out or export.with_name(export.name.removesuffix(".zip") + "-audit")
        project = open_project(None)
        try:
            report, paths = run_audit(
                export, out, project.settings, unmask, project_workbook(project)
            )
        except ExportError as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from exc
        table = Table("file", "rows read", "rejected", "problems", title="Schema audit")
        for f in report.files:
            problems = sum(sum(c.problems.values()) for c in f.columns)
            table.add_row(
                f.file + ("" if f.known else " (unknown)"),
                f"{f.rows_read:,}",
                str(f.rows_rejected),
                str(problems),
            )
        console.print(table)
        damage = Table("finding", "count", title="Damage and gaps")
        for label, count, _ in damage_rows(report):
            damage.add_row(label, str(count))
        console.print(damage)
        for note in reading_notes(report):
            console.print(f"[yellow]note:[/] {escape(note)}")
        console.print(f"Schema inventory: [bold]{paths.html}[/] (+ .csv, .json, rejects.csv)")
