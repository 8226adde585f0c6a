"""flitstack as a library: a migration project and its steps as plain calls.

    from flitstack.api import Migrator

    m = Migrator("practice/flitstack.toml", token=os.environ["PIPEDRIVE_API_TOKEN"])
    m.audit("export.zip")
    m.propose("export.zip")                    # writes the workbook to review
    m.confirm(by="Practice Manager", protection_as_proposed=True)
    m.setup("export.zip")
    summary, diff = m.sample("export.zip", 200)
    summary = m.migrate("export.zip")          # refused until the sample is clean
    diff = m.verify("export.zip")
    delta = m.delta("later-export.zip")
    m.rollback("export.zip")

Every step returns what it measured and raises one of :mod:`flitstack.errors` (each with the
exit code the command line uses): the command line is a display over these calls. ``progress``
is called as ``(step, done, total)`` while records move; ``notice`` with warnings worth showing;
``confirm_budget`` with the full run's :class:`BudgetForecast` before its first record (return
False to stop there: :class:`BudgetDeclined`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from flitstack.engine.migration import DeltaSummary, LoadSummary, Migration
from flitstack.engine.staging import RowSource
from flitstack.engine.state import StateStore
from flitstack.engine.verify import DiffReport, require_clean_sample
from flitstack.errors import BadInput, FlitstackError, Paused, Refused, StepFailed
from flitstack.mapping.confirm import Confirmation, confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import Workbook, save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.errors import BudgetExhausted, NotFound, PipedriveError, Unauthorized
from flitstack.pipedrive.governor import RateGovernor
from flitstack.project import Project, load_project, read_token
from flitstack.settings import Settings
from flitstack.source.audit import AuditReport, audit_export
from flitstack.source.audit_report import AuditPaths, write_audit
from flitstack.source.reader import Export, open_export

T = TypeVar("T")
Progress = Callable[[str, int, int], None]

#: Said whenever the API root looks wrong (a web page, or Pipedrive without ``/api``).
API_ROOT_HINT = "the API root should end in /api, e.g. https://acme.pipedrive.com/api"


@dataclass(frozen=True)
class BudgetForecast:
    """What the records a full run still has to create cost in API tokens, against the budget
    left today and the daily budget (None where unknown)."""

    needed: int
    left: int | None
    daily: int | None

    @property
    def fits_today(self) -> bool:
        return self.left is None or self.needed <= self.left

    @property
    def days(self) -> int:
        """Budget days the run spans, today counted as the first."""
        if self.fits_today:
            return 1
        rest = self.needed - max(self.left or 0, 0)
        return 1 + (math.ceil(rest / self.daily) if self.daily else 1)

    def describe(self) -> str:
        left = f"{self.left:,}" if self.left is not None else "an unknown number of"
        daily = f" (daily budget {self.daily:,})" if self.daily else ""
        span = "fits in today's budget" if self.fits_today else f"spans about {self.days} days"
        return (
            f"this run needs about {self.needed:,} API tokens; the account has {left} left "
            f"today{daily}: it {span}"
        )


class BudgetDeclined(Refused):
    """The full run spans more than one day of the budget and was not confirmed."""


class _Forecasting(Migration):
    """A migration that hands the full run's budget forecast to its caller before the first
    record moves (the engine computes it once the export is staged)."""

    on_forecast: Callable[[BudgetForecast], None] | None = None

    def forecast_budget(self, rows: RowSource) -> dict[str, int | None]:
        figures = super().forecast_budget(rows)
        if self.on_forecast is not None:
            self.on_forecast(
                BudgetForecast(
                    int(figures["needed"] or 0), figures["left"], self.pd.governor.daily_budget
                )
            )
        return figures


def _transport_error(exc: BaseException) -> httpx.TransportError | None:
    """The network failure behind ``exc`` (a refused or dropped connection), if any."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, httpx.TransportError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _wrong_root(exc: PipedriveError, api_root: str) -> bool:
    """Pipedrive's "Unknown method", a page that is not JSON, or a 404 from a root without
    ``/api``: the requests went somewhere that is not the API."""
    if "unknown method" in exc.message.lower() or "not json" in exc.message.lower():
        return True
    if isinstance(exc, NotFound):
        return exc.message.startswith("HTTP ") or not api_root.rstrip("/").endswith("/api")
    return False


def explain_failure(step: str, exc: PipedriveError, api_root: str) -> FlitstackError:
    """The one-line error a person can act on for a failed call: a connection that could not be
    made or dropped (run the same command again), a wrong API root (fix it), or Pipedrive's own
    message, naming the step."""
    network = _transport_error(exc)
    if network is not None:
        detail = str(network) or type(network).__name__
        return StepFailed(
            step,
            f"no connection to Pipedrive at {api_root} ({detail}). Nothing is lost: check the "
            "network (and the API root), then run the same command to resume.",
        )
    if _wrong_root(exc, api_root):
        return BadInput(
            f"{api_root} does not answer like Pipedrive's API ({exc}): {API_ROOT_HINT} "
            "(--api-root, or company_domain in the project file)"
        )
    return StepFailed(step, f"Pipedrive error: {exc}")


class Migrator:
    """One practice's migration: its project file, state, workbook and Pipedrive account."""

    def __init__(
        self,
        project: str | Path | Project | None = None,
        *,
        token: str | None = None,
        api_root: str | None = None,
        progress: Progress | None = None,
        notice: Callable[[str], None] | None = None,
        confirm_budget: Callable[[BudgetForecast], bool] | None = None,
    ) -> None:
        self.project = (
            project if isinstance(project, Project)
            else load_project(Path(project) if project is not None else None)
        )  # fmt: skip
        self.settings = self.project.settings
        self.api_root = api_root or self.settings.api_root()
        self._token = token
        self.progress = progress
        self.notice = notice
        self.confirm_budget = confirm_budget

    # --- steps that need no account ------------------------------------------------------------
    def audit(self, export: str | Path) -> AuditReport:
        with open_export(Path(export)) as source:
            return audit_export(source, self.settings)

    def propose(self, export: str | Path) -> Workbook:
        """Propose the map and write it to the project's workbook (to review, then confirm)."""
        wb = propose_map(Path(export), self.settings)
        save_workbook(wb, self.project.workbook)
        return wb

    def confirm(self, by: str, *, protection_as_proposed: bool = False) -> Confirmation:
        """Confirm the map as it is; every category of patient data needs a decision, or
        ``protection_as_proposed`` takes the profile's proposals (recorded as such)."""
        return confirm_workbook(
            self.project.workbook, by, protection_as_proposed=protection_as_proposed
        )

    # --- steps against Pipedrive ---------------------------------------------------------------
    def setup(self, export: str | Path) -> list[dict[str, str]]:
        """Custom fields, pipelines, stages, providers → users; returns provider resolution."""

        async def action(m: Migration) -> list[dict[str, str]]:
            await m.setup()
            if self.settings.visibility_by_location:
                write_visibility_groups(m, self.project.reports / "visibility-groups.csv")
            return m.resolution

        return self.run("setup", export, action)

    def sample(self, export: str | Path, size: int) -> tuple[LoadSummary, DiffReport]:
        """Migrate ``size`` patients covering the hard cases, read back, check the source."""

        async def action(m: Migration) -> tuple[LoadSummary, DiffReport]:
            summary = await m.migrate(size, "sample")
            return summary, await m.verify(m.run_id, "sample")

        return self.run("sample", export, action)

    def migrate(self, export: str | Path, *, skip_sample_gate: bool = False) -> LoadSummary:
        """The full migration: refused (nothing written) until the last sample is clean."""

        async def action(m: Migration) -> LoadSummary:
            if not skip_sample_gate:
                require_clean_sample(m.state, m.wb)
            return await m.migrate(None, "migrate")

        return self.run("migrate", export, action)

    def verify(self, export: str | Path) -> DiffReport:
        return self.run("verify", export, lambda m: m.verify(None, "full"))

    def delta(self, later_export: str | Path) -> DeltaSummary:
        return self.run("delta", later_export, lambda m: m.delta(Path(later_export)))

    def rollback(self, export: str | Path) -> dict[str, Any]:
        return self.run("rollback", export, lambda m: m.rollback())

    # --- patient data protection ----------------------------------------------------------------
    def forget(self, patient_ids: list[str]) -> dict[str, Any]:
        """Erasure: each patient's person and every record linked to it deleted from Pipedrive,
        the patient purged from the state and the reports (an audit line without personal data
        stays for each deleted record)."""
        from flitstack.engine.erasure import purge_reports

        async def action(m: Migration) -> tuple[dict[str, Any], list[str]]:
            result = await m.forget(patient_ids)
            return result, m.forgotten_keys

        result, keys = self.run("forget", self.project.root, action)
        result["reports_changed"] = [str(p) for p in purge_reports(self.project.reports, keys)]
        return result

    def purge(self) -> Any:
        """Remove the project's local copies of patient data (state, reports, examples)."""
        from flitstack.engine.erasure import purge_project

        p = self.project
        return purge_project(p.root, p.state, p.reports, p.workbook)

    # --- the one place an engine step is run ---------------------------------------------------
    def token(self) -> str:
        token = self._token or read_token(self.settings)
        if not token:
            raise BadInput(
                f"no Pipedrive API token: set the {self.settings.token_env} environment variable "
                "or run `flitstack token set` (the token is never read from the project file)"
            )
        return token

    def run(
        self,
        step: str,
        export: str | Path,
        action: Callable[[Migration], Awaitable[T]],
        workbook: Path | None = None,
    ) -> T:
        """Open the state and the client, run ``action`` on a :class:`Migration`, close both;
        every failure leaves as a :class:`~flitstack.errors.FlitstackError` naming the step."""
        token = self.token()
        state = StateStore(self.project.state)

        async def main() -> T:
            # the plan's burst and budget, counted per day in the account's time zone
            governor = RateGovernor.from_settings(self.settings)
            async with PipedriveClient(self.api_root, token, governor) as pd:
                migration = _Forecasting(
                    Path(export), workbook or self.project.workbook, state, pd, self.settings,
                    progress=self.progress, notice=self.notice,
                )  # fmt: skip
                migration.on_forecast = self._check_budget
                return await action(migration)

        try:
            return asyncio.run(main())
        except Unauthorized as exc:
            raise BadInput(
                f"Pipedrive refused the API token ({exc.status}: {exc.message}). Check "
                f"{self.settings.token_env} or `flitstack token set`, and the company domain "
                "in the project file."
            ) from exc
        except BudgetExhausted as exc:
            raise Paused(
                f"the daily token budget is spent ({exc.message}). Run the same command again "
                f"in {exc.retry_after / 3600:.1f} h: it resumes where it stopped, with no "
                "duplicate."
            ) from exc
        except PipedriveError as exc:
            raise explain_failure(step, exc, self.api_root) from exc
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise BadInput(str(exc)) from exc
        finally:
            state.close()

    def _check_budget(self, forecast: BudgetForecast) -> None:
        """Before the full run's first record: the caller sees the forecast and may stop."""
        if self.confirm_budget is not None and not self.confirm_budget(forecast):
            raise BudgetDeclined(
                f"the full run was not started: {forecast.describe()}, and that was not "
                "confirmed. No record was written; run the same command again to be asked "
                "again (or pass --yes)."
            )


def audit_and_write(
    export: Export,
    out: Path,
    settings: Settings,
    *,
    unmask: bool = False,
    on_row: Callable[[str], None] | None = None,
    bindings: Bindings | None = None,
    overrides: dict[str, str] | None = None,
) -> tuple[AuditReport, AuditPaths]:
    """Audit an open export and write its schema inventory (HTML, CSV, JSON) to ``out``, each
    column with the target the map proposal gives it."""
    from flitstack.mapping.propose import propose_from_profiles

    report = audit_export(
        export, settings, unmask=unmask, on_row=on_row, bindings=bindings, overrides=overrides
    )
    used = Settings.model_validate(report.settings_used)  # the export's declarations filled in
    proposal = propose_from_profiles(report.profiles, used, proposed=report.proposal)
    targets = {(c.file, c.column): proposal.target_for(c.file, c.column) for c in report.profiles}
    return report, write_audit(report, out, targets)


def write_visibility_groups(m: Migration, out: Path) -> Path:
    """The visibility groups to create in Pipedrive (Settings → Visibility groups), one per
    location, with the users whose providers work there: the API sets a record's visibility
    but cannot create the groups."""
    from flitstack.reporting import write_csv

    rows = [
        [f"{m.location_names.get(loc, '') or 'location ' + loc}", loc, email]
        for loc, emails in sorted(m.visibility_groups.items())
        for email in sorted(emails)
    ]
    return write_csv(out, ["visibility group", "location_id", "user e-mail"], rows)
