"""The whole journey on an export against the embedded sandbox: ``flitstack demo``'s library.

Audit → estimate → propose → confirm → setup → sample + diff → full run + diff → delta →
rollback with proof → the run report. The demo decides on the person's behalf (confirms the map,
accepts the generated export's deliberate damage) and says so through ``show``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from flitstack.api import Migrator, audit_and_write
from flitstack.engine.migration import LoadSummary, Migration
from flitstack.engine.reports import write_delta_report, write_setup_report
from flitstack.engine.run_report import write_project_report
from flitstack.engine.state import StateStore
from flitstack.engine.verify import DiffReport, require_clean_sample, write_diff
from flitstack.journey.estimate import estimate_migration, write_estimate
from flitstack.journey.rebuild import build_reference, write_reference
from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.practice import manifest_defaults
from flitstack.mapping.propose import propose_map
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import accept_loss, load_workbook, save_workbook
from flitstack.mapping.workbook_page import write_workbook_html
from flitstack.project import Project
from flitstack.reporting import private_dir, write_json
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import bundled_sample_path
from flitstack.source.later import make_later_export
from flitstack.source.reader import BindingSource, Row, open_export

T = TypeVar("T")


class Display(Protocol):
    """How the journey shows itself: headings, lines, warnings, tables, and each engine step."""

    def step(self, label: str) -> None: ...
    def say(self, text: str) -> None: ...
    def warn(self, text: str) -> None: ...
    def tick(self, file: str) -> None: ...
    def summary(self, summary: LoadSummary) -> None: ...
    def diff(self, report: DiffReport, html: Path) -> None: ...
    def run(
        self, api_root: str, token: str, export: Path, workbook: Path, state: Path,
        settings: Settings, action: Callable[[Migration], Awaitable[T]],
    ) -> T: ...  # fmt: skip


class Quiet:
    """A display that shows nothing (library use, tests)."""

    def step(self, label: str) -> None:
        pass

    def say(self, text: str) -> None:
        pass

    def warn(self, text: str) -> None:
        pass

    def tick(self, file: str) -> None:
        pass

    def summary(self, summary: LoadSummary) -> None:
        pass

    def diff(self, report: DiffReport, html: Path) -> None:
        pass

    def run(
        self, api_root: str, token: str, export: Path, workbook: Path, state: Path,
        settings: Settings, action: Callable[[Migration], Awaitable[T]],
    ) -> T:  # fmt: skip
        project = Project(root=state.parent, settings=settings, workbook=workbook, state=state,
                          reports=state.parent / "reports")  # fmt: skip
        return Migrator(project, token=token, api_root=api_root).run("demo", export, action)


def demo_users(export: Path, bindings: BindingSource | None = None) -> list[dict[str, str]]:
    """The demo account's users: an admin (the fallback owner) and half the practice's providers.

    So the setup report shows both outcomes: providers matched to a user by e-mail, and
    providers whose records go to the fallback owner.
    """
    from flitstack.source.schema import role

    email = role("providers", "email")
    first, last = role("providers", "first_name"), role("providers", "last_name")
    users = [{"name": "Sandbox Admin", "email": "admin@sandbox.example"}]
    with open_export(export, bindings) as source:
        providers = [r for r in source.read("providers") if isinstance(r, Row)]
    with_email = [p for p in providers if p.values.get(email)]
    for p in with_email[: len(with_email) // 2]:
        name = f"{p.values.get(first) or ''} {p.values.get(last) or ''}".strip()
        users.append({"name": name or "Provider", "email": str(p.values[email]).lower()})
    return users


def accept_on_behalf(
    workbook: Path, state: StateStore, kind: str, report: DiffReport, show: Display
) -> None:
    """The demo's export is damaged on purpose: accept each loss the check found (recorded in
    the workbook with that reason, confirmed again) and say so. A person decides this."""
    check = state.last_check(kind)
    losses = [
        loss for loss in (state.losses(int(check["run_id"])) if check else [])
        if (loss["file"], loss["column"]) not in {
            (a.file, a.column) for a in load_workbook(workbook).accepted_losses
        }
    ]  # fmt: skip
    for loss in losses:
        accept_loss(
            workbook, loss["file"], loss["column"],
            "accepted by flitstack demo on your behalf: the generated export carries this "
            "damage on purpose",
        )  # fmt: skip
    if losses:
        confirm_workbook(workbook, "flitstack demo (on your behalf)", protection_as_proposed=True)
        show.warn(
            f"The {kind} run lost more than 1% of these; the demo accepts each loss on your "
            "behalf (recorded in the workbook); in a real migration you decide:"
        )
        for loss in losses:
            show.warn(f"  {loss['line']}")
    if report.truth is not None:
        report.truth.apply_accepted(load_workbook(workbook))


def run_demo(
    out: Path,
    export: Path | None = None,
    sample: int = 25,
    rollback: bool = True,
    show: Display | None = None,
) -> dict[str, Any]:
    """Audit → propose → confirm → setup → sample + diff → full → delta → rollback → report.

    ``show`` displays each step (the command line passes a rich one); by default it is silent.
    """
    show = show or Quiet()
    private_dir(out)
    reports = private_dir(out / "reports")
    export = export or bundled_sample_path()
    settings = Settings(
        plan="enterprise", seats=10, fallback_owner_email="admin@sandbox.example"
    )  # the sandbox's plan; time zone, currency and tooth numbering: what the export declares
    if "timezone" not in manifest_defaults(export):
        settings = settings.model_copy(update={"timezone": "UTC"})
        show.warn("the export declares no time zone (no export.json): the demo reads its times "
                  "as UTC; a real project sets [practice] timezone")  # fmt: skip
    show.step("1. Audit the export")
    with open_export(export) as source:
        report, paths = audit_and_write(source, out / "audit", settings, on_row=show.tick)
    show.say(f"{report.rows_read:,} rows read; inventory: {paths.html}")
    proposal = propose_map(export, settings)  # the map of step 2, proposed once
    bindings = Bindings.from_workbook(proposal)
    est = estimate_migration(export, "enterprise", 10, settings, workbook=proposal)
    write_estimate(est, reports)
    show.say(
        f"estimate: {est.tokens:,} tokens in {est.requests:,} requests, grade "
        f"{est.grade.letter} · {est.grade.label}, {est.days} day(s) of an Enterprise budget"
    )
    rebuild_html, _ = write_reference(build_reference(export, bindings), reports)
    show.say(f"automations that do not migrate, as a rebuild guide: {rebuild_html}")
    show.step("2. Propose the field map")
    workbook = save_workbook(proposal, out / "flitstack-map.yaml")
    show.say(f"workbook: {workbook}")
    show.step("3. Confirm the map")
    confirm_workbook(workbook, "flitstack demo (on your behalf)", protection_as_proposed=True)
    show.warn(
        "The demo confirms the map on your behalf, and decides what patient data goes to "
        f"Pipedrive as its profile ({settings.profile()}) proposes: every category sent; in a "
        "real migration you decide each (README, Patient data)."
    )
    state = StateStore(out / "flitstack-state.sqlite")
    config = SandboxConfig(
        plan="enterprise",
        seats=10,
        seed_users=demo_users(export, bindings),
        seed_persons=[{"name": "Existing Contact", "email": "existing.contact@mail.example.com"}],
        seed_organizations=[{"name": "Existing Organization"}],
    )
    later = out / "later-export"
    edits = make_later_export(export, later, bindings=bindings)
    for line in edits.skipped:  # a file or a column this export lacks: fewer edits, said so
        show.warn(f"the later export (step 7) makes fewer edits: {line}")
    result: dict[str, Any] = {}
    with running_sandbox(config) as sb:
        show.say(f"embedded Pipedrive sandbox at {sb.base_url}")

        def step(label: str, action: Callable[[Migration], Awaitable[T]], src: Path = export) -> T:
            show.step(label)
            return show.run(sb.base_url, sb.api_token, src, workbook, state.path, settings, action)

        async def do_setup(m: Migration) -> list[dict[str, str]]:
            await m.setup()
            return m.resolution

        providers = step("4. Set Pipedrive up", do_setup)
        html = write_setup_report(reports, state, providers)
        show.say(f"setup report: {html}")

        async def do_sample(m: Migration) -> tuple[LoadSummary, DiffReport]:
            summary = await m.migrate(sample, "sample")
            return summary, await m.verify(m.run_id, "sample")

        _, sample_report = step(f"5. Sample migration ({sample} patients) and diff", do_sample)
        sample_html, _ = write_diff(sample_report, reports, "Sample")
        show.diff(sample_report, sample_html)
        accept_on_behalf(workbook, state, "sample", sample_report, show)
        require_clean_sample(state, load_workbook(workbook))

        async def do_full(m: Migration) -> tuple[LoadSummary, DiffReport]:
            summary = await m.migrate(None, "migrate")
            return summary, await m.verify(None, "full")

        summary, full_report = step("6. Full migration, read back and diffed", do_full)
        show.summary(summary)
        accept_on_behalf(workbook, state, "full", full_report, show)
        full_html, _ = write_diff(full_report, reports, "Full migration")
        show.diff(full_report, full_html)

        delta = step(
            "7. Delta: a later export with front-desk edits", lambda m: m.delta(later), later
        )
        delta_html = write_delta_report(reports, delta, later)
        show.say(
            f"created {sum(delta.created.values())}, updated {sum(delta.updated.values())}, "
            f"disappeared (kept) {len(delta.disappeared)} → {delta_html}"
        )
        result["dump"] = sb.dump()
        rollback_result: dict[str, Any] | None = None
        if rollback:
            rollback_result = step("8. Rollback, with proof", lambda m: m.rollback())
            write_json(reports / "rollback.json", rollback_result)
            if not rollback_result["differences"]:
                show.say("the account matches its state before the migration")
            else:
                show.warn(f"{len(rollback_result['differences'])} differences remain")
            result["dump_after_rollback"] = sb.dump()
    write_workbook_html(load_workbook(workbook), workbook)
    diffs = {"sample": sample_report.summary(), "full": full_report.summary()}
    report_path = write_project_report(out, state, workbook, str(export), "embedded sandbox", diffs)
    state.close()
    result.update(
        report=report_path, summary=summary, delta=delta, edits=edits,
        sample_diff=sample_report, full_diff=full_report, rollback=rollback_result,
    )  # fmt: skip
    return result
