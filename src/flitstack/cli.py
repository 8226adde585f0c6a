"""The ``flitstack`` command: a thin shell that wires each area's commands onto one Typer app.

Each area keeps its commands in its own ``cli_*`` module (a ``register(app)`` function), so the
library code stays importable without Typer and areas can grow without touching each other.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from flitstack import (
    cli_engine,
    cli_journey,
    cli_mapping,
    cli_pipedrive,
    cli_plan,
    cli_project,
    cli_protection,
    cli_source,
)


class _OneLineErrors(TyperGroup):
    """Every command's flitstack errors end as one line and their exit code (see
    :mod:`flitstack.errors`), never a traceback, however the app is invoked."""

    def invoke(self, ctx: Any) -> Any:
        from flitstack.errors import FlitstackError

        try:
            return super().invoke(ctx)
        except FlitstackError as exc:
            from flitstack.cli_engine import fail

            fail(exc)


app = typer.Typer(
    name="flitstack",
    cls=_OneLineErrors,
    help="Migrate a dental practice from My Dental Clinic into Pipedrive, safely and reversibly.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def root() -> None:
    """Audit an MDC export, propose and confirm a field map, migrate, verify and roll back."""


@app.command()
def version() -> None:
    """Print flitstack's version."""
    from flitstack import __version__

    typer.echo(__version__)


_AREAS = (
    cli_project,
    cli_protection,
    cli_source,
    cli_mapping,
    cli_pipedrive,
    cli_engine,
    cli_plan,
    cli_journey,
)
for _area in _AREAS:
    _area.register(app)


def main() -> None:
    """Console-script entry point: any flitstack error a command lets through is shown as one
    line with its exit code (see :mod:`flitstack.errors`), never as a traceback."""
    from flitstack.errors import FlitstackError

    try:
        app()
    except FlitstackError as exc:
        from flitstack.cli_engine import fail

        try:
            fail(exc)
        except typer.Exit as done:
            raise SystemExit(done.exit_code) from None


if __name__ == "__main__":
    main()
