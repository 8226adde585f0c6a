"""Treatment plans → Deals in the "Treatment plans" pipeline, their items listed on the deal."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flitstack.engine.load import LoadContext
from flitstack.engine.objects import register
from flitstack.engine.objects._deals import DealKind
from flitstack.engine.records import Builder
from flitstack.source.reader import Row
from flitstack.source.schema import role

ACTIVE = {"Proposed", "Accepted", "InProgress"}


@register
class TreatmentPlans(DealKind):
    name = "treatment_plans"
    source = "treatment_plans"
    after = ("patients",)
    status_map, outcome_map, pipeline = (
        "treatment_plan_status", "treatment_plan_outcome", "Treatment plans",
    )  # fmt: skip

    def features(self, row: Row, b: Builder) -> Iterable[str]:
        status = row.values.get(b._col_name("treatment_plans", "stage"))
        if status in ACTIVE:
            yield "active_plan"

    def title(self, ctx: LoadContext, row: Row, org_name: str) -> str:
        title_role = ctx.builder._col_name("treatment_plans", "title")
        if ctx.builder.withholds("treatment_plans", role("treatment_plans", "title")):
            return f"Treatment plan {row.source_id}"  # its title names the procedures
        return str(row.raw.get(title_role) or "Treatment plan")

    def extra(self, ctx: LoadContext, row: Row, body: dict[str, Any]) -> None:
        b = ctx.builder
        procedures = b.plan_items(ctx.children("treatment_plan_items").get(row.source_id or "", []))
        if procedures and ("deal", "planned_procedures__c") in b.setup.fields:
            b.put_custom(body, "deal", "planned_procedures__c", procedures)
