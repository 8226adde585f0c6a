"""The free text of plans, lab cases and referrals → a Note on their deal (and person)."""

from __future__ import annotations

from collections.abc import Iterable

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.objects import register
from flitstack.engine.objects.base import SourceKind
from flitstack.source.schema import role

#: The deal file and the role of its free-text column.
TEXT_OF = {"treatment_plans": "note", "lab_cases": "instructions", "referrals": "reason"}


@register
class DealNotes(SourceKind):
    name = "deal_notes"
    source = None
    creates = "notes"
    after = ("treatment_plans", "lab_cases", "referrals")

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        b = ctx.builder
        for file, text_role in TEXT_OF.items():
            column = role(file, text_role)
            for pid, rows in ctx.children(file).items():
                for r in rows:
                    text = r.values.get(column)  # parsed: null spellings are None
                    deal = ctx.ids["deals"].get(f"{file}:{r.source_id}")
                    if not text or not str(text).strip() or deal is None:
                        continue
                    key = f"{file}:{r.source_id}:note"
                    yield Write(
                        "notes", key,
                        lambda text=text, key=key, column=column, deal=deal, pid=pid: {
                            "content": b.note_body(text, None, [column], key),
                            "deal_id": deal,
                            "person_id": ctx.person_of(pid),
                        },
                        row=r, person=pid,
                    )  # fmt: skip
