"""``flitstack init``: the project file, asked for and checked one answer at a time.

Every answer is validated where it is given (a wrong plan or time zone is asked again, naming what
is accepted). Given the export, the practice's time zone, currency and tooth numbering default to
what its ``export.json`` declares, and are shown.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError
from rich.markup import escape

from flitstack.mapping.practice import manifest_defaults
from flitstack.mapping.protection import default_profile
from flitstack.pipedrive.plans import UnknownPlan, check_plan
from flitstack.project import PROJECT_FILE, ProjectError, write_project_file
from flitstack.reporting import cli_console
from flitstack.settings import Settings

console = cli_console()


def _setting(field: str, value: Any) -> Any:
    """``value`` checked by the project file's own rule for ``field``."""
    try:
        return getattr(Settings(**{field: value}), field)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from exc


def _ask(value: Any, text: str, check: Any, default: Any = None, **prompt: Any) -> Any:
    """The option's value if given (wrong: the command stops, naming what is accepted), else
    asked for until the answer passes ``check``."""
    if value is not None:
        return check(value)
    while True:
        answer = typer.prompt(text, default=default, **prompt)
        try:
            return check(answer)
        except typer.BadParameter as exc:
            console.print(f"[bold red]{escape(text)}:[/] {escape(exc.message)}")


def _plan(value: str) -> str:
    try:
        return check_plan(value)
    except UnknownPlan as exc:
        raise typer.BadParameter(str(exc)) from exc


def _email(value: str) -> str:
    if not value.strip():
        return ""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise typer.BadParameter(f"{value!r} is not an e-mail address: {exc}") from exc


def _api_root(value: str) -> str:
    root = value.strip().rstrip("/")
    if root and not root.startswith(("http://", "https://")):
        raise typer.BadParameter(
            f"{value!r}: give the API root as a URL, e.g. http://127.0.0.1:8765/api"
        )
    if root and not root.endswith("/api"):
        raise typer.BadParameter(
            f"{value!r}: Pipedrive's API root ends in /api (e.g. https://acme.pipedrive.com/api)"
        )
    return root


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        company_domain: str = typer.Option(
            None, help="'acme' for acme.pipedrive.com (asked if not given)"
        ),
        export: Path = typer.Option(
            None,
            help="the MDC export: its time zone, currency and tooth numbering are the defaults",
        ),
        timezone: str = typer.Option(None, help="IANA time zone of the practice (asked)"),
        region: str = typer.Option("US", help="default phone region"),
        currency: str = typer.Option(
            None, help="ISO 4217 currency (default: the export's, else USD)"
        ),
        fallback_owner: str = typer.Option(
            None, help="e-mail of the Pipedrive user who owns unresolved providers' records (asked)"
        ),
        plan: str = typer.Option(None, help="Pipedrive plan, current or legacy name (asked)"),
        seats: int = typer.Option(
            None, min=1, help="paid seats: the budget scales with them (asked)"
        ),
        api_root: str = typer.Option(
            "", help="an API root to talk to instead of Pipedrive, e.g. a `flitstack sandbox serve`"
        ),
        protection: str = typer.Option(
            None,
            help="patient data protection profile: us-hipaa, eu-gdpr or other (asked; "
            "proposed from the region)",
        ),
        path: Path = typer.Option(Path(PROJECT_FILE), help="where to write the project file"),
        force: bool = typer.Option(False, help="replace an existing project file"),
    ) -> None:
        """Write a commented flitstack.toml for this practice (no token in it), asking for and
        checking company domain, plan, seats, time zone and fallback owner."""
        if path.exists() and not force:
            console.print(
                f"[bold red]error:[/] {escape(str(path))}: already exists "
                "(pass --force to replace it)"
            )
            raise typer.Exit(2)
        declared = manifest_defaults(export) if export is not None else {}
        if declared:
            said = {k: declared.get(k, "(none)") for k in
                    ("timezone", "currency", "source_tooth_notation")}  # fmt: skip
            console.print(
                f"{escape(str(export))}/export.json declares: time zone {said['timezone']}, "
                f"currency {said['currency']}, tooth numbering "
                f"{said['source_tooth_notation']}; used as the defaults below"
            )
        domain = _ask(company_domain, "Company domain ('acme' for acme.pipedrive.com)",
                      lambda v: _setting("company_domain", v))  # fmt: skip
        chosen_plan = _ask(plan, "Pipedrive plan (Lite, Growth, Premium, Ultimate, or a legacy "
                           "name such as Advanced)", _plan)  # fmt: skip
        chosen_seats = _ask(seats, "Paid seats", lambda v: _setting("seats", int(v)), type=int)
        zone = _ask(timezone or declared.get("timezone"),
                    "Practice time zone (IANA, e.g. America/Chicago)",
                    lambda v: _setting("timezone", v))  # fmt: skip
        money = _setting("currency", currency or declared.get("currency") or "USD")
        owner = _ask(fallback_owner, "Fallback owner e-mail (a Pipedrive user)", _email)
        suggested = default_profile(_setting("region", region))
        if protection is None and not sys.stdin.isatty():
            protection = suggested  # a script: the region's profile, said below
        profile = _ask(protection, "Patient data protection profile (us-hipaa, eu-gdpr, other)",
                       lambda v: _setting("protection_profile", v), default=suggested)  # fmt: skip
        try:
            written = write_project_file(
                path, domain, zone, _setting("region", region), money, owner, chosen_plan,
                chosen_seats, overwrite=force, base_url=_api_root(api_root),
                tooth_notation=declared.get("source_tooth_notation", "universal"),
                protection_profile=profile,
            )  # fmt: skip
        except (ProjectError, typer.BadParameter) as exc:
            message = exc.message if isinstance(exc, typer.BadParameter) else str(exc)
            console.print(f"[bold red]error:[/] {escape(message)}")
            raise typer.Exit(2) from exc
        console.print(
            f"wrote {written}: plan {chosen_plan}, {chosen_seats} seat(s), time zone {zone}, "
            f"currency {money}, patient data profile {profile} (you decide each category "
            "when you confirm the map); next: `flitstack token set`, then `flitstack audit`"
        )
