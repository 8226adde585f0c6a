"""Files that become no record of their own: providers (resolved to users at setup), property
definitions (custom fields at setup) and automations (a rebuild reference)."""

from __future__ import annotations

from collections.abc import Iterable

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.objects import register
from flitstack.engine.objects.base import SourceKind


class _Reference(SourceKind):
    parent = None
    outcome = "merged"
    reason = ""

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        assert self.source is not None
        for r in ctx.rows(self.source):
            ctx.accounting.row(self.source, r, self.outcome, self.reason)
        return ()


@register
class Providers(_Reference):
    name = source = "providers"  # resolved to Pipedrive users by e-mail during setup


@register
class PropertyDefinitions(_Reference):
    name = source = "custom_property_definitions"  # person custom fields made at setup


@register
class Automations(_Reference):
    name = source = "automations"
    outcome = "skipped"
    reason = "automations do not migrate: see the rebuild reference"
