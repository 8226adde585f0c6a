"""Commands of the Pipedrive area: serve the sandbox."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape

from flitstack.reporting import cli_console
from flitstack.sandbox.config import load_users
from flitstack.sandbox.server import PLAN_BURST, SandboxConfig, running_sandbox

console = cli_console()
sandbox_app = typer.Typer(help="The Pipedrive sandbox.", no_args_is_help=True)


@sandbox_app.command("serve")
def serve(
    port: int = typer.Option(8765, help="loopback port"),
    db: str = typer.Option(None, help="SQLite file for the account (default: in memory)"),
    plan: str = typer.Option("professional", help=f"one of {', '.join(PLAN_BURST)}"),
    seats: int = typer.Option(5, min=1),
    token: str = typer.Option(None, help="API token to accept (default: random, printed)"),
    latency_ms: float = typer.Option(0.0, help="added latency per request"),
    fault_5xx_rate: float = typer.Option(0.0),
    fault_lost_response_rate: float = typer.Option(0.0),
    users: Path = typer.Option(
        None,
        help='users to add besides the owner, e.g. providers: JSON [{"name", "email", "active"}]',
    ),
) -> None:
    """Serve a Pipedrive look-alike on 127.0.0.1 until interrupted (Ctrl-C)."""
    config = SandboxConfig(
        plan=plan, seats=seats, db_path=db, api_token=token, latency_ms=latency_ms,
        fault_5xx_rate=fault_5xx_rate, fault_lost_response_rate=fault_lost_response_rate,
    )  # fmt: skip
    try:
        seeded = load_users(users) if users is not None else None
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    try:
        with running_sandbox(config, port=port, users=seeded) as sb:
            url = sb.base_url
            console.print(f"Pipedrive sandbox at [bold]{url}[/] (plan {plan}, {seats} seats)")
            console.print(f"API token: {sb.api_token}  (use --api-root {url})")
            if seeded is not None:
                total = len(sb.dump()["users"])
                console.print(f"users: {total}, {len(seeded)} of them from {escape(str(users))}")
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        console.print("Pipedrive sandbox stopped.")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(sandbox_app, name="sandbox")
