"""Insurance carriers → Organizations, one per carrier name (duplicates merged)."""

from __future__ import annotations

from collections.abc import Iterable

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.objects import register
from flitstack.engine.objects.base import SourceKind
from flitstack.engine.records import norm_name
from flitstack.source.reader import Row


@register
class Carriers(SourceKind):
    name = "insurance_carriers"
    source = "insurance_carriers"
    parent = None
    creates = "organizations"
    after = ()

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        b = ctx.builder
        carrier_role = b._col_name("patient_insurance", "insurance_org")
        coverage = ctx.source.children("patient_insurance", ctx.kept) if ctx.sample else {}
        used = {str(r.raw.get(carrier_role) or "").strip() for rs in coverage.values() for r in rs}
        groups: dict[str, list[Row]] = {}
        for r in ctx.rows("insurance_carriers"):
            if ctx.sample and r.source_id not in used:
                ctx.accounting.row("insurance_carriers", r, "skipped", quiet=True)
                continue
            name = str(r.raw.get(b._col_name("insurance_carriers", "name")) or "").strip()
            groups.setdefault(norm_name(name) or r.source_id or "", []).append(r)
        ctx.shared["carrier_groups"] = groups
        for norm, group in groups.items():
            first = group[0]
            key = f"insurance_carriers:{norm}"
            name = str(first.raw.get(b._col_name("insurance_carriers", "name")) or first.source_id)
            ctx.accounting.row("insurance_carriers", first, "migrated")
            ctx.accounting.row("insurance_carriers", None, "merged", count=len(group) - 1)
            yield Write(
                "organizations", key,
                lambda first=first, name=name, key=key: b.organization(
                    "insurance_carriers", first, name, "Insurance Carrier", key
                ),
                row=first, keep_as=("organizations", key), match="organization", name=name,
            )  # fmt: skip

    def after_writes(self, ctx: LoadContext) -> None:
        """Every carrier ID (merged duplicates too) → its organization, for the persons."""
        for norm, group in ctx.shared.get("carrier_groups", {}).items():
            for r in group:
                org = ctx.ids["organizations"][f"insurance_carriers:{norm}"]
                ctx.ids["carriers"][r.source_id or ""] = org
