"""Appointments → Activities, with the original date and time, owner and operatory."""

from __future__ import annotations

from collections.abc import Iterable

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.objects import register
from flitstack.engine.objects.base import SourceKind


@register
class Appointments(SourceKind):
    keyed = True
    name = "appointments"
    source = "appointments"
    creates = "activities"
    after = ("patients",)
    sample_feature = "appointments"
    derived = {
        ("activity", "person_id"): "the appointment's patient",
        ("activity", "type"): "appointment type (via the value map)",
        ("activity", "done"): "appointment status (via the value map)",
        ("activity", "subject"): "appointment type and status",
    }

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        b = ctx.builder
        for pid, rows in ctx.children("appointments").items():
            for r in rows:
                key = f"appointments:{r.source_id}"
                ctx.accounting.row("appointments", r, "migrated")
                yield Write(
                    "activities", key,
                    lambda r=r, pid=pid, key=key: b.appointment(r, ctx.person_of(pid), key),
                    row=r, person=pid,
                )  # fmt: skip
