"""Commands of the mapping area: propose the field map, confirm it, show it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from flitstack import cli_engine
from flitstack.cli_engine import open_project
from flitstack.errors import BadInput
from flitstack.mapping.confirm import confirm_workbook, read_confirmation
from flitstack.mapping.propose import RoleError, propose_map, set_role
from flitstack.mapping.workbook import (
    WorkbookError,
    accept_loss,
    load_workbook,
    save_workbook,
)
from flitstack.mapping.workbook_page import write_workbook_html
from flitstack.reporting import cli_console
from flitstack.source.reader import ExportError

console = cli_console()
map_app = typer.Typer(help="Propose, review and confirm the field map.", no_args_is_help=True)


@map_app.command("propose")
def propose(
    export: Path = typer.Argument(..., help="export folder or .zip"),
    out: Path = typer.Option(Path("flitstack-map.yaml"), help="workbook to write"),
) -> None:
    """Propose a field map for every column of the export (YAML workbook + HTML view)."""
    try:
        with console.status("auditing the export and proposing the map…"):
            wb = propose_map(export, open_project(None).settings)
    except ExportError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    save_workbook(wb, out)
    html = write_workbook_html(wb, out)
    review = [c for c in wb.columns if c.review]
    skipped = [c for c in wb.columns if not c.migrate]
    console.print(
        f"Proposed {len(wb.columns)} columns: {len(wb.columns) - len(skipped)} mapped, "
        f"{len(skipped)} not migrated (each with a reason), {len(review)} to review."
    )
    if review:
        table = Table("file", "column", "proposed", "confidence", "why", title="Please review")
        for c in review:
            table.add_row(c.file, c.column, c.label, f"{c.confidence:.0%}", c.reason)
        console.print(table)
    console.print(f"Workbook: [bold]{out}[/]  (view: {html})")
    console.print('Next: review it, then [bold]flitstack map confirm --by "Your Name"[/]')


@map_app.command("confirm")
def confirm(
    workbook: Path = typer.Option(Path("flitstack-map.yaml"), help="workbook to confirm"),
    by: str = typer.Option(
        None, "--by", help="your name, recorded as who confirmed (asked for when left out)"
    ),
    protection_as_proposed: bool = typer.Option(
        False,
        help="take the protection profile's proposal for every undecided category of "
        "patient data (recorded as such)",
    ),
) -> None:
    """Confirm the workbook as it is now; editing it later requires confirming again."""
    who = (by or "").strip() or ask_who_confirms()
    try:
        c = confirm_workbook(workbook, who, protection_as_proposed=protection_as_proposed)
    except (WorkbookError, FileNotFoundError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    write_workbook_html(load_workbook(workbook), workbook)
    console.print(
        f"Confirmed by {c.confirmed_by} at {c.confirmed_at} (digest {c.digest[:12]}); "
        f"{c.review_items} entries were marked for review."
    )


def ask_who_confirms() -> str:
    """The name of the person confirming, asked at the terminal: a confirmation is a person's
    word, so it is never filled in from the login name, and a script must say it (--by)."""
    if not cli_engine.interactive():
        raise BadInput(
            'who confirms the map? pass --by "Your Name" (the name is recorded with the '
            "confirmation; nothing was confirmed)"
        )
    while True:
        name = str(typer.prompt("Your name (recorded as who confirmed the map)")).strip()
        if name:
            return name


@map_app.command("set-role")
def set_role_command(
    file: str = typer.Argument(..., help="export file, e.g. appointments"),
    column: str = typer.Argument(..., help="the header as the export spells it"),
    role: str = typer.Argument(..., help="the MDC column it stands for, or 'none'"),
    workbook: Path = typer.Option(Path("flitstack-map.yaml"), help="workbook to edit"),
) -> None:
    """Say which MDC column a header stands for; its entry is rewritten from that rule."""
    try:
        wb = load_workbook(workbook)
        entry = set_role(wb, file, column, None if role.casefold() == "none" else role)
    except (WorkbookError, RoleError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    save_workbook(wb, workbook)
    write_workbook_html(wb, workbook)
    console.print(
        f"{escape(file)}.{escape(column)} → {escape(entry.label)}. Confirm the map again."
    )


@map_app.command("accept-loss")
def accept_loss_command(
    file: str = typer.Argument(..., help="export file, e.g. documents"),
    column: str = typer.Argument(None, help="the column (header); leave out for the file's rows"),
    reason: str = typer.Option(..., "--reason", help="why this loss is acceptable"),
    workbook: Path = typer.Option(Path("flitstack-map.yaml"), help="workbook to edit"),
) -> None:
    """Accept that a column's values (or a file's rows) may be lost, and say why."""
    try:
        entry = accept_loss(workbook, file, column, reason)
    except (WorkbookError, ValueError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    what = f"{entry.file}.{entry.column}" if entry.column else f"rows of {entry.file}.csv"
    console.print(f"Accepted the loss of {escape(what)}. Confirm the map again.")


@map_app.command("review")
def review(
    workbook: Path = typer.Option(Path("flitstack-map.yaml"), help="workbook to review"),
    port: int = typer.Option(0, help="loopback port (default: a free one)"),
    no_browser: bool = typer.Option(False, "--no-browser", help="only print the address"),
) -> None:
    """Review, edit and confirm the map in your browser (a page on 127.0.0.1 only)."""
    import time
    import webbrowser

    from flitstack.errors import BadInput
    from flitstack.mapping.review_server import read_for_review, serving_review

    try:
        read_for_review(workbook)  # unreadable YAML stops here; unknown names show on the page
        with serving_review(workbook, port=port) as handle:
            console.print(f"Review the map at [bold]{handle.url}[/]  (Ctrl-C stops)")
            console.print("The address holds this session's key: do not share it.")
            if not no_browser:
                webbrowser.open(handle.url)
            while True:
                time.sleep(1)
    except BadInput as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        console.print("stopped")


@map_app.command("show")
def show(workbook: Path = typer.Option(Path("flitstack-map.yaml"))) -> None:
    """Print the map and whether it is confirmed."""
    wb = load_workbook(workbook)
    table = Table("file", "column", "target", "transform", "conf.", title=str(workbook))
    for c in wb.columns:
        style = "yellow" if c.review else None
        table.add_row(c.file, c.column, c.label, c.transform, f"{c.confidence:.0%}", style=style)
    console.print(table)
    confirmation = read_confirmation(workbook)
    console.print(
        f"confirmed by {confirmation.confirmed_by} at {confirmation.confirmed_at}"
        if confirmation
        else "[yellow]not confirmed[/]"
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(map_app, name="map")
