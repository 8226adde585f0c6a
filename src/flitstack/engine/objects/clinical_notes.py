"""Clinical and progress notes → Notes on the person (and on the deal of the plan they name)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.objects import register
from flitstack.engine.objects.base import SourceKind
from flitstack.source.reader import Row
from flitstack.source.schema import role


@register
class ClinicalNotes(SourceKind):
    keyed = True
    name = "clinical_notes"
    source = "clinical_notes"
    creates = "notes"
    after = ("patients", "treatment_plans")
    sample_feature = "notes"
    derived = {
        ("note", "content"): "note text and header",
        ("note", "person_id"): "the note's patient",
        ("note", "deal_id"): "the treatment plan the note names",
    }

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        for pid, rows in ctx.children("clinical_notes").items():
            for r in rows:
                key = f"clinical_notes:{r.source_id}"
                ctx.accounting.row("clinical_notes", r, "migrated")
                yield Write(
                    "notes", key, lambda r=r, pid=pid, key=key: self.body(ctx, r, pid, key),
                    row=r, person=pid,
                )  # fmt: skip

    def body(self, ctx: LoadContext, r: Row, pid: str, key: str) -> dict[str, Any]:
        b = ctx.builder
        file = "clinical_notes"
        plan = str(r.raw.get(b._col_name(file, "deal_id")) or "").strip()
        header = [
            str(r.values.get(role(file, "note_type")) or "Note"),
            b.provider_name(r.raw.get(role(file, "provider_id"))) or "",
        ]
        content = b.note_body(
            r.raw.get(b._col_name(file, "content")),
            str(r.values.get(role(file, "format")) or "") or None,
            header,
            key,
        )
        note: dict[str, Any] = {"content": content, "person_id": ctx.person_of(pid)}
        added = b.col(file, "add_time")
        if added is not None:
            out = b.tx(added, r, file, r.source_id or "")
            if out.ok and out.value:
                note["add_time"] = out.value
        deal = ctx.ids["deals"].get(f"treatment_plans:{plan}") if plan else None
        if deal is not None:
            note["deal_id"] = deal
        return note
