"""Patient coverage: merged into the person (primary carrier as org_id, others as links)."""

from __future__ import annotations

from collections.abc import Iterable

from flitstack.engine.objects import register
from flitstack.engine.objects.base import MergedKind
from flitstack.engine.records import Builder
from flitstack.source.reader import Row


@register
class PatientInsurance(MergedKind):
    name = "patient_insurance"
    source = "patient_insurance"

    def features(self, row: Row, b: Builder) -> Iterable[str]:
        yield "primary"
        ordinal = row.raw.get(b._col_name("patient_insurance", "insurance_ordinal"))
        if str(ordinal or "").strip() in {"2", "3"}:
            yield "secondary"
