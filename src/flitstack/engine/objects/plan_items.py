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
        b = ctx.builder
        ref = b._col_name("treatment_plan_items", "deal_ref")
        plans = {r.source_id for rows in ctx.children("treatment_plans").values() for r in rows}
        for item in ctx.rows.get("treatment_plan_items", []):
            plan = str(item.raw.get(ref) or "").strip()
            if plan in plans:
                ctx.accounting.row("treatment_plan_items", item, "merged")
            else:
                ctx.accounting.row(
                    "treatment_plan_items", item, "skipped",
                    "its treatment plan was not migrated", ref, quiet=ctx.sample,
                )  # fmt: skip
        return ()
