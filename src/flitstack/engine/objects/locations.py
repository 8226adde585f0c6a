"""Locations → Organizations (practice sites)."""

from __future__ import annotations

from collections.abc import Iterable

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.objects import register
from flitstack.engine.objects.base import SourceKind


@register
class Locations(SourceKind):
    keyed = True
    name = "locations"
    source = "locations"
    parent = None
    creates = "organizations"
    derived = {("organization", "location_type__c"): "Practice Location (per source file)"}

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        b = ctx.builder
        for r in ctx.rows("locations"):
            key = f"locations:{r.source_id}"
            name = str(r.raw.get(b._col_name("locations", "name")) or r.source_id)
            ctx.accounting.row("locations", r, "migrated")
            yield Write(
                "organizations", key,
                lambda r=r, name=name, key=key: b.organization(
                    "locations", r, name, "Practice Location", key
                ),
                row=r, keep_as=("organizations", key), match="organization", name=name,
            )  # fmt: skip
