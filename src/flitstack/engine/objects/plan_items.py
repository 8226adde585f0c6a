"""Treatment plan items: merged into their plan's deal (listed in planned procedures)."""

from __future__ import annotations

from collections.abc import Iterable

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.objects import register
from flitstack.engine.objects.base import SourceKind


@register
class PlanItems(SourceKind):
    name = "treatment_plan_items"
    source = "treatment_plan_items"
    parent = "treatment_plans"  # grouped by plan, not by patient
    after = ("treatment_plans",)

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        migrated: set[str] = ctx.shared.setdefault("plans_migrated", set())
        for rows in ctx.children("treatment_plans").values():
            migrated.update(r.source_id or "" for r in rows)
        for items in ctx.children("treatment_plan_items").values():
            ctx.accounting.row("treatment_plan_items", None, "merged", count=len(items))
        return ()

    def finish(self, ctx: LoadContext) -> None:
        """Items that name no plan, or a plan the export does not hold, are rejected (an
        orphan, as a child row of a missing patient is); items whose plan was not migrated
        are skipped (quietly when only left out of a sample)."""
        migrated = ctx.shared.get("plans_migrated", set())
        by = self.parent_role
        plans: set[str] | None = None  # every plan of the export, read once if needed
        for item in ctx.rows("treatment_plan_items"):
            plan = str(item.values.get(by) or "").strip()
            if plan in migrated:
                continue
            if plans is None:
                plans = {r.source_id or "" for r in ctx.rows("treatment_plans")}
            if not plan:
                ctx.accounting.row(
                    "treatment_plan_items", item, "rejected", "no treatment plan reference", by
                )
            elif plan not in plans:
                why = f"treatment plan {plan} does not exist (orphan)"
                ctx.accounting.row("treatment_plan_items", item, "rejected", why, by)
            else:
                ctx.accounting.row(
                    "treatment_plan_items", item, "skipped",
                    "its treatment plan was not migrated", by, quiet=ctx.sample,
                )  # fmt: skip
