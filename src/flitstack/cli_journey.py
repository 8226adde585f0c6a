"""The journey: ``flitstack demo`` runs the whole migration on the bundled sample or any export."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.markup import escape

from flitstack.cli_engine import fail, print_diff, print_summary, run_with_progress
from flitstack.engine.migration import LoadSummary, Migration
from flitstack.engine.verify import DiffReport
from flitstack.errors import BadInput, FlitstackError
from flitstack.journey.demo import demo_users, run_demo
from flitstack.reporting import cli_console
from flitstack.settings import Settings

__all__ = ["demo_users", "run_demo"]

console = cli_console()
T = TypeVar("T")


class RichDisplay:
    """The demo shown on the terminal: rules, lines, progress bars, the load and diff tables."""

    def step(self, label: str) -> None:
        console.rule(escape(label))

    def say(self, text: str) -> None:
        console.print(escape(text))

    def warn(self, text: str) -> None:
        console.print(f"[yellow]{escape(text)}[/]")

    def tick(self, file: str) -> None:
        pass

    def summary(self, summary: LoadSummary) -> None:
        print_summary(summary)

    def diff(self, report: DiffReport, html: Path) -> None:
        print_diff(report, html)

    def run(
        self, api_root: str, token: str, export: Path, workbook: Path, state: Path,
        settings: Settings, action: Callable[[Migration], Awaitable[T]],
    ) -> T:  # fmt: skip
        return run_with_progress(api_root, token, export, workbook, state, settings, action)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command()
    def demo(
        out: Path = typer.Option(None, help="project folder (default: a new temp folder)"),
        export: Path = typer.Option(
            None, help="try the journey on this export instead of the bundled sample"
        ),
        sample: int = typer.Option(25, help="patients in the sample migration"),
        rollback: bool = typer.Option(True, help="end with a rollback and its proof"),
    ) -> None:
        """Run the whole migration against the embedded sandbox, on the bundled sample export
        or on your own (a folder or a .zip, whatever its headers)."""
        folder = out or Path(tempfile.mkdtemp(prefix="flitstack-demo-"))
        try:
            result = run_demo(folder, export, sample=sample, rollback=rollback, show=RichDisplay())
        except FlitstackError as exc:
            fail(exc)
        except OSError as exc:  # a file of the export or of the project cannot be read/written
            fail(BadInput(f"{exc.filename or folder}: {exc.strerror or exc}"))
        console.rule("Done")
        console.print(f"Report: [bold]{result['report']}[/]")
