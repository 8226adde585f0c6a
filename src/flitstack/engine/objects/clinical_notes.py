"""Clinical and progress notes → Notes on the person (and on the deal of the plan they name)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flitstack.engine.load import LoadContext, Write, file_marker
from flitstack.engine.objects import register
from flitstack.engine.objects.base import SourceKind
from flitstack.engine.records import Problem
from flitstack.source.reader import Row
from flitstack.source.schema import role
from flitstack.transform.registry import PIPEDRIVE_LIMITS

#: a note's text over this goes in a file (Pipedrive: notes of "approximately 100,000
#: characters"; the header, the MDC reference and HTML escaping take some of it)
NOTE_TEXT_LIMIT = PIPEDRIVE_LIMITS["note"] - 5_000


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
        b = ctx.builder
        content_column = b._col_name("clinical_notes", "content")
        for pid, rows in ctx.children("clinical_notes").items():
            for r in rows:
                key = f"clinical_notes:{r.source_id}"
                ctx.accounting.row("clinical_notes", r, "migrated")
                text = str(r.raw.get(content_column) or "")
                attached = None
                if len(text) > NOTE_TEXT_LIMIT:  # the whole text as a file, the note says so
                    attached = f"{file_marker(key + ':text')} note.txt"
                    b.flag(Problem(
                        "clinical_notes", r.source_id or "", r.line, content_column, "flagged",
                        f"note of {len(text):,} characters, over Pipedrive's limit of "
                        f"{NOTE_TEXT_LIMIT:,}: attached in full as the file {attached!r}, "
                        "the note points to it",
                    ))  # fmt: skip
                    yield Write(
                        "files", f"{key}:text", dict, row=r, person=pid,
                        upload=lambda text=text, pid=pid, name=attached: (
                            name, text.encode("utf-8"), "text/plain",
                            {"person_id": ctx.person_of(pid)},
                        ),
                    )  # fmt: skip
                yield Write(
                    "notes", key,
                    lambda r=r, pid=pid, key=key, attached=attached: self.body(
                        ctx, r, pid, key, attached
                    ),
                    row=r, person=pid,
                )  # fmt: skip

    def body(
        self, ctx: LoadContext, r: Row, pid: str, key: str, attached: str | None = None
    ) -> dict[str, Any]:
        b = ctx.builder
        file = "clinical_notes"
        plan = str(r.raw.get(b._col_name(file, "deal_id")) or "").strip()
        header = [
            str(r.values.get(role(file, "note_type")) or "Note"),
            b.provider_name(r.raw.get(role(file, "provider_id"))) or "",
        ]
        text = r.raw.get(b._col_name(file, "content"))
        fmt = str(r.values.get(role(file, "format")) or "") or None
        if attached is not None:
            text, fmt = (
                f"This note is {len(str(text)):,} characters long, over Pipedrive's limit for "
                f"a note: its full text is attached to this person as the file {attached}.",
                "plain",
            )
        content = b.note_body(text, fmt, header, key)
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
