"""Lab cases → Deals in the "Lab cases" pipeline, linked to the lab's Organization."""

from __future__ import annotations

from flitstack.engine.load import LoadContext
from flitstack.engine.objects import register
from flitstack.engine.objects._deals import DealKind
from flitstack.source.reader import Row
from flitstack.source.schema import role


@register
class LabCases(DealKind):
    name = "lab_cases"
    source = "lab_cases"
    after = ("patients", "dental_labs")
    sample_feature = "lab_case"
    org_name_role = "name"
    status_map, outcome_map, pipeline = "lab_case_status", "lab_case_outcome", "Lab cases"

    def title(self, ctx: LoadContext, row: Row, org_name: str) -> str:
        case_type = row.values.get(role("lab_cases", "case_type"))
        if ctx.builder.withholds("lab_cases", role("lab_cases", "case_type")):
            case_type = None
        return f"Lab case: {case_type or 'case'} — {org_name or 'lab'}"
