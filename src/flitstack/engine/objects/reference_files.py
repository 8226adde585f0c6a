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
class OtherFiles(SourceKind):
    """CSV files of the export no kind reads (files MDC does not write): each row is skipped
    with its reason, so none is left without an outcome."""

    name = "other_files"
    source = None
    parent = None

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        for file in ctx.source.files():
            if file not in ctx.read:
                why = f"not a file of the MDC format ({file}.csv): its rows are not migrated"
                for r in ctx.rows(file):
                    ctx.accounting.row(file, r, "skipped", why)
        return ()


@register
class Automations(_Reference):
    name = source = "automations"
    outcome = "skipped"
    reason = "automations do not migrate: see the rebuild reference"
