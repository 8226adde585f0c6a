"""Patients → Persons, with their coverage, recalls, balance and practice properties merged in.

The root kind: it decides which patients take part (a sample's choice; Deleted patients are
skipped), and every child kind hangs its rows under the patients kept here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.objects import register
from flitstack.engine.objects.base import SourceKind
from flitstack.source.reader import Row
from flitstack.transform import TransformContext, apply


@register
class Patients(SourceKind):
    keyed = True
    name = "patients"
    source = "patients"
    parent = None
    creates = "persons"
    after = ("locations", "insurance_carriers")
    derived = {
        ("person", "org_id"): "patient_insurance (primary coverage carrier)",
        ("person", "secondary_insurance__c"): "patient_insurance (ordinal 2)",
        ("person", "tertiary_insurance__c"): "patient_insurance (ordinal 3)",
        ("person", "needs_review__c"): "derived: no valid e-mail",
        ("person", "outstanding_balance__c"): "ledger_entries (charges less payments; 0 if none)",
        ("person", "last_payment_date__c"): "ledger_entries (latest payment)",
        ("person", "last_payment_amount__c"): "ledger_entries (latest payment)",
    }

    def select(self, ctx: LoadContext) -> None:
        b = ctx.builder
        status_role: str | None = None
        skip_values: set[str] = set()
        for c in b.cols("patients"):
            if c.options.get("skip_values"):
                skip_values |= set(c.options["skip_values"])
                status_role = c.key
        for p in ctx.rows("patients"):
            pid = p.source_id or ""
            if pid not in ctx.chosen:
                ctx.accounting.row("patients", p, "skipped", quiet=True)
                continue
            if status_role and str(p.values.get(status_role) or "") in skip_values:
                ctx.accounting.row(
                    "patients", p, "skipped", "patient marked Deleted in MDC: not migrated",
                    status_role,
                )  # fmt: skip
                continue
            ctx.kept.append(pid)

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        has_ledger = "ledger_entries" in ctx.source.files() and bool(
            ctx.builder.cols("ledger_entries")
        )
        for pid, row in ctx.patients.items():
            key = f"patients:{pid}"
            ctx.accounting.row("patients", row, "migrated")
            yield Write(
                "persons", key,
                lambda pid=pid, row=row, key=key: self.body(ctx, pid, row, key, has_ledger),
                row=row, keep_as=("persons", pid), match="person",
            )  # fmt: skip

    def body(
        self, ctx: LoadContext, pid: str, row: Row, key: str, has_ledger: bool
    ) -> dict[str, Any]:
        b = ctx.builder
        extras = b.insurance_extras(ctx.children("patient_insurance").get(pid, []),
                                    ctx.ids["carriers"])  # fmt: skip
        custom, _last = b.recall_extras(ctx.children("recalls").get(pid, []))
        extras["custom"].update(custom)
        if has_ledger:  # no ledger rows: nothing owed, a balance of 0.00 (not unknown)
            extras["custom"].update(b.ledger_extras(ctx.children("ledger_entries").get(pid, [])))
        extras["custom"].update(self.properties(ctx, pid))
        return b.person(row, key, extras)

    def properties(self, ctx: LoadContext, pid: str) -> dict[tuple[str, str], Any]:
        """The practice's own patient properties, each into its person custom field."""
        b = ctx.builder
        file = "patient_custom_properties"
        definitions = {p.source: p for p in b.wb.custom_properties if p.source}
        name_role = b._col_name(file, "property_name")
        value_role = b._col_name(file, "property_value")
        out: dict[tuple[str, str], Any] = {}
        for pr in ctx.children(file).get(pid, []):
            definition = definitions.get(str(pr.raw.get(name_role) or "").strip())
            if definition is None:
                ctx.accounting.note(file, pid, pr.line, name_role, "flagged",
                                    "property has no definition: not migrated")  # fmt: skip
                continue
            transform = {"date": "date", "double": "number", "enum": "picklist"}.get(
                definition.field_type, "text"
            )
            if definition.options == ["Yes", "No"]:
                transform = "bool_yes_no"
            options = TransformContext(b.settings, {"options": definition.options})
            value = b.as_read(file, value_role, transform, pr.raw.get(value_role))
            result = apply(transform, value, options)
            if result.ok and result.value is not None:
                out[("person", definition.name)] = result.value
            elif not result.ok:
                ctx.accounting.note(file, pid, pr.line, value_role, "flagged",
                                    f"{result.reason}; left empty")  # fmt: skip
        return out
