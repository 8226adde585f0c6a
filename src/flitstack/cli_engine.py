"""Commands of the engine: setup, migrate (sample or full), rollback, audit-log."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from flitstack.api import BudgetForecast, Migrator, explain_failure
from flitstack.engine.migration import LoadSummary, Migration
from flitstack.engine.reports import write_audit_log, write_delta_report, write_setup_report
from flitstack.engine.run_report import write_project_report
from flitstack.engine.state import StateStore
from flitstack.engine.verify import DiffReport, require_clean_sample, write_diff
from flitstack.errors import FlitstackError, Paused, Refused
from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.errors import PipedriveError, Unauthorized
from flitstack.project import (
    Project,
    ProjectError,
    load_project,
    store_token,
)
from flitstack.reporting import cli_console, write_json
from flitstack.settings import Settings

console = cli_console()
T = TypeVar("T")
BudgetQuestion = Callable[[BudgetForecast, Progress], bool]


class Interrupted(FlitstackError):
    """Ctrl-C during a step: what was written is recorded, the same command resumes."""

    exit_code = 130
    label = "stopped"


def interactive() -> bool:
    """A person at a terminal who can answer a question (not a script, a pipe or a CI job)."""
    return sys.stdin.isatty()


def run_with_progress(
    api_root: str,
    token: str,
    export: Path,
    workbook: Path,
    state_path: Path,
    settings: Settings,
    action: Callable[[Migration], Awaitable[T]],
    *,
    confirm_budget: BudgetQuestion | None = None,
) -> T:
    """Run ``action`` through the library (:class:`flitstack.api.Migrator`) with a progress
    bar per step; errors come out of the library's one root. ``confirm_budget`` is asked
    (with the progress display, to pause it) before a full run's first record."""
    project = Project(
        root=state_path.parent, settings=settings, workbook=workbook, state=state_path,
        reports=state_path.parent / "reports",
    )  # fmt: skip
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

        def ask(forecast: BudgetForecast) -> bool:
            return confirm_budget is None or confirm_budget(forecast, progress)

        migrator = Migrator(
            project, token=token, api_root=api_root, progress=tick,
            notice=lambda text: console.print(f"[yellow]note:[/] {escape(text)}"),
            confirm_budget=ask,
        )  # fmt: skip
        return migrator.run("run", export, action, workbook)


def budget_question(yes: bool) -> BudgetQuestion:
    """Show the full run's budget forecast; a run that spans more than one day of the budget
    goes ahead only when confirmed (``--yes``, or the person at the terminal answers yes)."""

    def confirm(forecast: BudgetForecast, progress: Progress) -> bool:
        console.print(f"budget: {escape(forecast.describe())}")
        if forecast.days <= 1 or yes:
            return True
        if not interactive():
            raise Refused(
                f"the full run spans about {forecast.days} days of the daily token budget and "
                "nobody is at a terminal to confirm it: pass --yes to start it (no record was "
                "written)"
            )
        progress.stop()  # the question needs the terminal
        try:
            return typer.confirm(
                f"This run spans about {forecast.days} days of the daily token budget: it "
                "pauses when a day's budget is spent, and the same command resumes it after "
                "the reset. Start it?",
                default=False,
            )
        except (typer.Abort, EOFError):
            return False
        finally:
            progress.start()

    return confirm


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


def refresh_report(project: Project, export: Path, api_root: str | None) -> None:
    """Rebuild the project's run report after each step, and say where it is."""
    state = StateStore(project.state)
    try:
        path = write_project_report(
            project.root, state, project.workbook, str(export),
            api_root or project.settings.api_root(),
        )  # fmt: skip
    finally:
        state.close()
    console.print(f"run report: {path}")


def open_project(path: Path | None) -> Project:
    try:
        return load_project(path)
    except ProjectError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc


def _run(
    project: Project,
    export: Path,
    api_root: str | None,
    action: Callable[[Migration], Awaitable[T]],
    workbook: Path | None = None,
    *,
    step: str = "the run",
    confirm_budget: BudgetQuestion | None = None,
) -> T:
    """Run an engine action; every failure is one line and its exit code (one handler),
    Ctrl-C included (exit 130)."""
    settings = project.settings
    try:
        token = Migrator(project).token()
        return run_with_progress(
            api_root or settings.api_root(), token, export, workbook or project.workbook,
            project.state, settings, action, confirm_budget=confirm_budget,
        )  # fmt: skip
    except FlitstackError as exc:
        fail(exc)
    except KeyboardInterrupt as exc:
        fail(interrupted(step, exc))


def interrupted(step: str, exc: KeyboardInterrupt) -> Interrupted:
    error = Interrupted(
        f"{step} interrupted (Ctrl-C). Nothing is lost: every record written so far is in the "
        "project's state, and a write whose answer never came is looked up before it is sent "
        "again. Run the same command again to resume where it stopped."
    )
    error.__cause__ = exc
    return error


def fail(exc: FlitstackError) -> NoReturn:
    """The command line's one error handler: the message on one line, the error's exit code."""
    colour = "yellow" if isinstance(exc, Paused) else "bold red"
    console.print(f"[{colour}]{exc.label}:[/] {escape(str(exc))}")
    raise typer.Exit(exc.exit_code) from exc


def print_sample_size(asked: int, picked: dict[str, Any]) -> None:
    """How many patients the sample took; when fewer than asked, why."""
    taken = int(picked.get("picked", asked))
    if taken >= asked:
        console.print(f"sample: {taken} patients")
        return
    skipped = [
        f"{n} {'is' if n == 1 else 'are'} {mark}"
        for mark, n in dict(picked.get("skipped") or {}).items()
        if n
    ]
    because = f" ({', '.join(skipped)})" if skipped else ""
    console.print(
        f"[yellow]sample: {taken} patients, not {asked}: only {picked.get('eligible', taken)} "
        f"patients can be migrated{escape(because)}[/]"
    )


def print_diff(report: DiffReport, html: Path) -> None:
    s = report.summary()
    colour = "green" if report.clean else "red"
    console.print(
        f"[{colour}]{s['records']} records read back, {s['fields']} fields compared, "
        f"{s['differences']} differ, {s['missing_records']} missing[/] → {html}"
    )
    for d in report.differences[:10]:
        console.print(
            escape(
                f"  {d.object} {d.pd_id} ({d.key}) {d.field}: expected {d.expected!r}, "
                f"Pipedrive holds {d.actual!r}"
            )
        )
    truth = report.truth
    if truth is None:
        return
    checked = sum(c.non_empty for c in truth.columns)
    lost = sum(c.lost for c in truth.columns)
    blocking = truth.blocking()
    colour = "green" if not blocking else "red"
    console.print(
        f"[{colour}]checked against the source files: {checked:,} non-empty values of "
        f"{len(truth.columns)} mapped columns, {lost:,} did not arrive or are implausible; "
        f"{len(blocking)} losses over 1% not accepted[/]"
    )
    for line in blocking:
        console.print(f"  [red]{escape(line)}[/]")
    for c in truth.columns:
        if c.rate > 0.01 and c.accepted:
            console.print(f"  [yellow]accepted: {escape(c.file)}.{escape(c.column)} "
                          f"{c.lost}/{c.non_empty} ({escape(c.accepted)})[/]")  # fmt: skip
    if blocking:
        console.print(
            "  Fix the map or the data, or accept a loss with a reason: "
            '[bold]flitstack map accept-loss FILE [COLUMN] --reason "…"[/], then confirm '
            "the map again."
        )


ProjectOption = typer.Option(
    None, "--project", "-p", help="project file (default ./flitstack.toml)"
)
ApiRootOption = typer.Option(None, help="API root override, e.g. a sandbox's …/api")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command()
    def setup(
        export: Path = typer.Argument(..., help="export folder or .zip"),
        project: Path = ProjectOption,
        api_root: str = ApiRootOption,
    ) -> None:
        """Create custom fields and pipelines, resolve providers to users; write the report."""
        proj = open_project(project)

        async def action(m: Migration) -> list[dict[str, str]]:
            await m.setup()
            return m.resolution

        resolution = _run(proj, export, api_root, action, step="setup")
        state = StateStore(proj.state)
        html = write_setup_report(proj.reports, state, resolution)
        state.close()
        fallback = sum("fallback" in r["resolution"] for r in resolution)
        console.print(
            f"{len(resolution)} providers resolved ({fallback} on the fallback owner) → {html}"
        )

    @app.command()
    def migrate(
        export: Path = typer.Argument(..., help="export folder or .zip"),
        project: Path = ProjectOption,
        sample: int = typer.Option(0, help="migrate N patients covering the hard cases, then diff"),
        skip_sample_gate: bool = typer.Option(
            False, help="run the full migration without a clean sample diff"
        ),
        workbook: Path = typer.Option(None, help="confirmed field map (default: from project)"),
        api_root: str = ApiRootOption,
        yes: bool = typer.Option(
            False, "--yes", "-y", help="start a run spanning several budget days without asking"
        ),
    ) -> None:
        """Load the export into Pipedrive in dependency order; resumable, exactly once."""
        proj = open_project(project)
        picked: dict[str, Any] = {}

        async def action(m: Migration) -> tuple[LoadSummary, DiffReport | None]:
            if not sample and not skip_sample_gate:
                require_clean_sample(m.state, m.wb)
            summary = await m.migrate(sample or None, "sample" if sample else "migrate")
            if not sample:
                return summary, None
            picked.update(getattr(m, "sample_picked", None) or {})
            return summary, await m.verify(m.run_id, "sample")

        summary, diff = _run(
            proj, export, api_root, action, workbook,
            step="the sample" if sample else "the migration",
            confirm_budget=None if sample else budget_question(yes),
        )  # fmt: skip
        print_summary(summary)
        if sample:
            print_sample_size(sample, picked)
        if diff is not None:
            html, _ = write_diff(diff, proj.reports, "Sample")
            print_diff(diff, html)
        refresh_report(proj, export, api_root)
        if diff is not None and not diff.clean:
            raise typer.Exit(1)

    @app.command()
    def verify(
        export: Path = typer.Argument(..., help="the export that was migrated"),
        project: Path = ProjectOption,
        api_root: str = ApiRootOption,
    ) -> None:
        """Read every migrated record back and diff it field by field with what was sent."""
        proj = open_project(project)
        diff = _run(proj, export, api_root, lambda m: m.verify(None, "full"), step="verify")
        html, _ = write_diff(diff, proj.reports, "Full migration")
        print_diff(diff, html)
        refresh_report(proj, export, api_root)
        if not diff.clean:
            raise typer.Exit(1)

    @app.command()
    def delta(
        new_export: Path = typer.Argument(..., help="a later export of the same practice"),
        project: Path = ProjectOption,
        api_root: str = ApiRootOption,
    ) -> None:
        """Pick up what changed since the migration: create new, patch changed, list vanished."""
        proj = open_project(project)
        result = _run(proj, new_export, api_root, lambda m: m.delta(new_export), step="the delta")
        html = write_delta_report(proj.reports, result, new_export)
        console.print(
            f"created {sum(result.created.values())}, updated {sum(result.updated.values())}, "
            f"disappeared (kept, for review) {len(result.disappeared)} → {html}"
        )
        refresh_report(proj, new_export, api_root)
        missing = result.load.unaccounted()
        if missing:
            console.print(f"[red]unaccounted rows: {missing}[/]")
            raise typer.Exit(1)

    @app.command()
    def rollback(
        export: Path = typer.Argument(..., help="the export that was migrated"),
        project: Path = ProjectOption,
        api_root: str = ApiRootOption,
    ) -> None:
        """Delete what the migration created, restore what it changed, and prove it."""
        proj = open_project(project)
        result = _run(proj, export, api_root, lambda m: m.rollback(), step="the rollback")
        write_json(proj.reports / "rollback.json", result)
        console.print(f"deleted: {result['deleted']}; restored: {result['restored']}")
        refresh_report(proj, export, api_root)
        if result["differences"]:
            console.print(f"[red]{len(result['differences'])} differences remain:[/]")
            for line in result["differences"][:20]:
                console.print(f"  {line}")
            raise typer.Exit(1)
        console.print("[green]the account matches its state before the migration[/]")

    @app.command()
    def report(
        project: Path = ProjectOption,
        export: str = typer.Option("", help="the export's path, shown on the page"),
    ) -> None:
        """Rebuild the project's run report (report.html) from its state and step reports."""
        proj = open_project(project)
        if not proj.state.exists():
            console.print(f"[bold red]error:[/] no migration state at {proj.state} yet")
            raise typer.Exit(2)
        refresh_report(proj, Path(export) if export else Path(""), None)

    @app.command("audit-log")
    def audit_log(
        project: Path = ProjectOption,
        out: Path = typer.Option(Path("flitstack-audit-log.csv"), help=".csv or .jsonl"),
    ) -> None:
        """Export the audit log of every write (CSV or JSONL)."""
        proj = open_project(project)
        count = write_audit_log(StateStore(proj.state), out)
        console.print(f"{count} writes → {out}")

    token_app = typer.Typer(help="The Pipedrive API token: kept in the keyring or environment.")
    app.add_typer(token_app, name="token")

    @token_app.command("set")
    def token_set(
        project: Path = ProjectOption,
        token: str = typer.Option(..., prompt=True, hide_input=True, help="Pipedrive API token"),
    ) -> None:
        """Store the API token in the system keyring (never in a file)."""
        proj = open_project(project)
        try:
            store_token(proj.settings, token.strip())
        except Exception as exc:
            console.print(
                f"[bold red]error:[/] no usable system keyring ({type(exc).__name__}); set "
                f"the {proj.settings.token_env} environment variable instead"
            )
            raise typer.Exit(2) from exc
        console.print(
            f"token stored in the keyring for {proj.settings.company_domain or 'default'}"
        )

    @token_app.command("check")
    def token_check(project: Path = ProjectOption, api_root: str = ApiRootOption) -> None:
        """Ask Pipedrive who the token belongs to (the token itself is never printed)."""
        proj = open_project(project)
        try:
            token = Migrator(proj).token()
        except FlitstackError as exc:
            fail(exc)

        async def who() -> dict[str, Any]:
            async with PipedriveClient(api_root or proj.settings.api_root(), token) as pd:
                return await pd.me()

        try:
            me = asyncio.run(who())
        except Unauthorized as exc:
            console.print(f"[bold red]Pipedrive refused the API token[/] ({escape(exc.message)})")
            raise typer.Exit(2) from exc
        except PipedriveError as exc:
            fail(explain_failure("token check", exc, api_root or proj.settings.api_root()))
        console.print(f"token works: {me.get('name')} <{me.get('email')}>")
