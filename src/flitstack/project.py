"""The migration project: ``flitstack.toml`` plus where the map, state and reports live.

The project file holds what differs between practices (company domain, time zone, region,
currency, tooth notations, fallback owner, duplicate policy). It never holds the API token:
that comes from an environment variable or the system keyring when a client is built.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from flitstack.errors import BadInput
from flitstack.mapping.protection import default_profile
from flitstack.reporting import write_private
from flitstack.settings import Settings

PROJECT_FILE = "flitstack.toml"
KEYRING_SERVICE = "flitstack"


class ProjectError(BadInput):
    """The project file cannot be used; the message names the file and the key."""


class Paths(BaseModel):
    """Where the project's files live, relative to the project file."""

    model_config = ConfigDict(extra="forbid")
    workbook: str = "flitstack-map.yaml"
    state: str = "flitstack-state.sqlite"
    reports: str = "reports"


class Project(BaseModel):
    """A loaded project: settings and absolute paths."""

    root: Path
    settings: Settings
    workbook: Path
    state: Path
    reports: Path
    from_file: bool = False


SECTIONS = {
    "pipedrive": (
        "company_domain", "base_url", "plan", "seats", "topup_tokens", "account_timezone",
        "token_env",
    ),
    "practice": (
        "timezone", "region", "currency", "source_tooth_notation", "target_tooth_notation",
    ),
    "migration": (
        "fallback_owner_email", "duplicate_policy", "max_document_mb", "protection_profile",
        "visibility_by_location",
    ),
}  # fmt: skip


def load_project(path: Path | None = None) -> Project:
    """Read ``flitstack.toml`` (defaults when absent); clear errors for bad keys or values."""
    file = path or Path(PROJECT_FILE)
    root = file.parent.resolve()
    if not file.exists():
        if path is not None:
            raise ProjectError(f"{file}: no such project file (create one with `flitstack init`)")
        paths, settings = Paths(), Settings()
        return _resolved(root, settings, paths, False)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"{file}: not valid TOML: {exc}") from exc
    flat: dict[str, Any] = {}
    for section, values in data.items():
        if section == "paths":
            continue
        allowed = SECTIONS.get(section)
        if allowed is None or not isinstance(values, dict):
            raise ProjectError(
                f"{file}: unknown section [{section}] (expected one of "
                f"{', '.join(['paths', *SECTIONS])})"
            )
        for key, value in values.items():
            if key in {"api_token", "token"}:
                raise ProjectError(
                    f"{file}: [{section}] {key}: the API token never goes in the project file; "
                    "set the environment variable or run `flitstack token set`"
                )
            if key not in allowed:
                raise ProjectError(f"{file}: [{section}] unknown key {key!r}")
            flat[key] = None if value == "" else value
    try:
        settings = Settings(**flat)
        paths = Paths(**(data.get("paths") or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProjectError(f"{file}: {where}: {first['msg']}") from exc
    return _resolved(root, settings, paths, True)


def _resolved(root: Path, settings: Settings, paths: Paths, from_file: bool) -> Project:
    return Project(
        root=root,
        settings=settings,
        workbook=root / paths.workbook,
        state=root / paths.state,
        reports=root / paths.reports,
        from_file=from_file,
    )


TEMPLATE = """\
# flitstack project file: one per practice migration.
# The Pipedrive API token is NOT stored here. Put it in the environment variable named by
# token_env, or in the system keyring with `flitstack token set`.

[pipedrive]
# Your company domain: "acme" for https://acme.pipedrive.com
company_domain = {company_domain}
{base_url_line}
# Plan and seats set the daily token budget (30,000 x plan multiplier x seats + top-ups).
plan = {plan}          # lite, growth, premium, ultimate; legacy: essential ... enterprise
seats = {seats}
# topup_tokens = 0       # purchased daily top-up tokens, added to the budget
# account_timezone = "America/Chicago"   # the budget resets at midnight here
token_env = "PIPEDRIVE_API_TOKEN"

[practice]
timezone = {timezone}    # IANA name; MDC times are practice-local
region = {region}                 # default country for phone numbers without +code
currency = {currency}
source_tooth_notation = {tooth}   # universal, fdi or palmer: how MDC writes teeth
target_tooth_notation = "universal"   # how Pipedrive fields should show them

[migration]
# Pipedrive user who owns records of providers without a matching user (by e-mail).
fallback_owner_email = {fallback}
# A Person with the same e-mail, or an Organization with the same name, already exists:
# "update" it (its before-image is kept for rollback), "skip" it, or "create" a new one.
duplicate_policy = "update"
# Patient data protection: us-hipaa, eu-gdpr or other proposes, per category of health data,
# what goes to Pipedrive; you decide each in the workbook (see README "Patient data").
protection_profile = {protection}
# Restrict each user to their location's patients: records are made visible to the owner's
# visibility group, and reports/visibility-groups.csv lists the groups to create in Pipedrive.
visibility_by_location = false
# Documents larger than this many MB are listed in the rejects report, never uploaded.
max_document_mb = 50

[paths]
workbook = "flitstack-map.yaml"      # the field map you review and confirm
state = "flitstack-state.sqlite"     # ID map, audit log, before-images (owner-only)
reports = "reports"
"""


def write_project_file(
    path: Path,
    company_domain: str,
    timezone: str = "America/New_York",
    region: str = "US",
    currency: str = "USD",
    fallback_owner_email: str = "",
    plan: str = "advanced",
    seats: int = 1,
    overwrite: bool = False,
    base_url: str = "",
    tooth_notation: str = "universal",
    protection_profile: str | None = None,
) -> Path:
    """Write a commented project file; refuse to replace one unless asked."""
    if path.exists() and not overwrite:
        raise ProjectError(f"{path}: already exists (pass --force to replace it)")

    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    text = TEMPLATE.format(
        company_domain=q(company_domain),
        timezone=q(timezone),
        region=q(region),
        currency=q(currency),
        fallback=q(fallback_owner_email),
        plan=q(plan),
        seats=seats,
        tooth=q(tooth_notation),
        protection=q(protection_profile or default_profile(region)),
        base_url_line=(
            f"base_url = {q(base_url)}   # the API root flitstack talks to instead of Pipedrive"
            if base_url
            else '# base_url = "http://127.0.0.1:8765/api"   # talk to a `flitstack sandbox serve`'
        ),
    )
    write_private(path, text)
    load_project(path)  # what we write must load
    return path


def read_token(settings: Settings) -> str | None:
    """The API token from the environment, else the system keyring; never from a file."""
    token = os.environ.get(settings.token_env, "").strip()
    if token:
        return token
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, settings.company_domain or "default")
    except Exception:  # no keyring backend on this machine
        return None


def store_token(settings: Settings, token: str) -> None:
    """Keep the token in the system keyring under the company domain."""
    import keyring

    keyring.set_password(KEYRING_SERVICE, settings.company_domain or "default", token)


__all__ = [
    "PROJECT_FILE",
    "Project",
    "ProjectError",
    "load_project",
    "read_token",
    "store_token",
    "write_project_file",
]
