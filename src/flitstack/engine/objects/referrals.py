"""Referrals → Deals in the "Referrals" pipeline, linked to the specialist practice."""

from __future__ import annotations

from typing import Any

from flitstack.engine.load import LoadContext
from flitstack.engine.objects import register
from flitstack.engine.objects._deals import DealKind
from flitstack.source.reader import Row
from flitstack.source.schema import role


@register
class Referrals(DealKind):
    name = "referrals"
    source = "referrals"
    after = ("patients", "referral_practices")
    sample_feature = "referral"
    org_name_role = "name"
    status_map, outcome_map, pipeline = "referral_status", "referral_outcome", "Referrals"

    def title(self, ctx: LoadContext, row: Row, org_name: str) -> str:
        def get(name: str) -> Any:
            return row.values.get(role("referrals", name)) or ""

        who = get("specialist_name") or org_name
        if ctx.builder.withholds("referrals", role("referrals", "specialty")):
            return f"Referral {get('direction')} — {who}"
        return f"Referral {get('direction')}: {get('specialty')} — {who}"

    def extra(self, ctx: LoadContext, row: Row, body: dict[str, Any]) -> None:
        if ("deal", "lab_case_type__c") in ctx.builder.setup.fields:
            ctx.builder.put_custom(body, "deal", "lab_case_type__c", "Referral")
