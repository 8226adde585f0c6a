"""Ledger entries: merged into the person (balance, last payment); the history → a CSV file
attached to the person, with a note saying what it is."""

from __future__ import annotations

from collections.abc import Iterable

from flitstack.engine.load import LoadContext, Upload, Write, file_marker
from flitstack.engine.objects import register
from flitstack.engine.objects.base import MergedKind
from flitstack.engine.records import role_order
from flitstack.reporting import csv_text
from flitstack.source.reader import Row

NOTE = (
    "Ledger history for this patient is attached as a CSV file. It is a financial record from "
    "My Dental Clinic that Pipedrive's data model does not support natively; the outstanding "
    "balance and last payment are on the Person."
)


@register
class Ledger(MergedKind):
    name = "ledger_entries"
    source = "ledger_entries"
    creates = "files"  # and a note
    after = ("patients",)
    sample_feature = "ledger"

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        yield from super().writes(ctx)
        b = ctx.builder
        for pid, rows in ctx.children("ledger_entries").items():
            note_key = f"ledger_entries:{pid}:note"
            yield Write(
                "notes", note_key,
                lambda pid=pid, note_key=note_key: {
                    "content": b.note_body(NOTE, "plain", ["Financial record"], note_key),
                    "person_id": ctx.person_of(pid),
                },
                person=pid,
            )  # fmt: skip
            yield Write(
                "files", f"ledger_entries:{pid}", dict,
                person=pid,
                upload=lambda pid=pid, rows=rows: self.csv(ctx, pid, rows),
            )  # fmt: skip

    def csv(self, ctx: LoadContext, pid: str, rows: list[Row]) -> Upload:
        # the MDC format's names in its order, so any export's ledger reads the same
        header = sorted(rows[0].raw, key=lambda k: role_order("ledger_entries", k))
        text = csv_text(header, ([r.raw.get(h, "") for h in header] for r in rows))
        person = ctx.person_of(pid)
        name = f"{file_marker(f'ledger_entries:{pid}')} ledger.csv"
        return (name, text.encode(), "text/csv", {"person_id": person})
