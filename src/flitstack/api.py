"""flitstack as a library: a migration project and its steps as plain calls.

    from flitstack.api import Migrator

    m = Migrator("practice/flitstack.toml", token=os.environ["PIPEDRIVE_API_TOKEN"])
    m.audit("export.zip")
    m.propose("export.zip")                    # writes the workbook to review
    m.confirm(by="Practice Manager")
    m.setup("export.zip")
    summary, diff = m.sample("export.zip", 200)
    summary = m.migrate("export.zip")          # refused until the sample is clean
    diff = m.verify("export.zip")
    delta = m.delta("later-export.zip")
    m.rollback("export.zip")

Every step returns what it measured and raises one of :mod:`flitstack.errors` (each with the
exit code the command line uses): the command line is a display over these calls. ``progress``
is called as ``(step, done, total)`` while records move; ``notice`` with warnings worth showing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from flitstack.engine.migration import DeltaSummary, LoadSummary, Migration
from flitstack.engine.state import StateStore
from flitstack.engine.verify import DiffReport, require_clean_sample
from flitstack.errors import BadInput, Paused, StepFailed
from flitstack.mapping.confirm import Confirmation, confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import Workbook, save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.errors import BudgetExhausted, PipedriveError, Unauthorized
from flitstack.pipedrive.governor import RateGovernor
from flitstack.project import Project, load_project, read_token
from flitstack.settings import Settings
from flitstack.source.audit import AuditReport, audit_export
from flitstack.source.audit_report import AuditPaths, write_audit
from flitstack.source.reader import Export, open_export

T = TypeVar("T")
Progress = Callable[[str, int, int], None]


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

    # --- steps that need no account ------------------------------------------------------------
    def audit(self, export: str | Path) -> AuditReport:
        with open_export(Path(export)) as source:
            return audit_export(source, self.settings)

    def propose(self, export: str | Path) -> Workbook:
        """Propose the map and write it to the project's workbook (to review, then confirm)."""
        wb = propose_map(Path(export), self.settings)
        save_workbook(wb, self.project.workbook)
        return wb

    def confirm(self, by: str) -> Confirmation:
        return confirm_workbook(self.project.workbook, by)

    # --- steps against Pipedrive ---------------------------------------------------------------
    def setup(self, export: str | Path) -> list[dict[str, str]]:
        """Custom fields, pipelines, stages, providers → users; returns provider resolution."""

        async def action(m: Migration) -> list[dict[str, str]]:
            await m.setup()
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
                migration = Migration(
                    Path(export), workbook or self.project.workbook, state, pd, self.settings,
                    progress=self.progress, notice=self.notice,
                )  # fmt: skip
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
            raise StepFailed(step, f"Pipedrive error: {exc}") from exc
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise BadInput(str(exc)) from exc
        finally:
            state.close()


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
