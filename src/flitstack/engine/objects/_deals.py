"""What the three deal kinds (treatment plans, lab cases, referrals) share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.objects.base import SourceKind
from flitstack.engine.records import norm_name
from flitstack.source.reader import Row


class DealKind(SourceKind):
    keyed = True
    creates = "deals"
    status_map: ClassVar[str]
    outcome_map: ClassVar[str]
    pipeline: ClassVar[str]
    org_name_role: ClassVar[str | None] = None  # role whose value names the linked org
    derived = {
        ("deal", "stage_id"): "status (via the status → stage value map)",
        ("deal", "status"): "status (via the status → outcome value map)",
        ("deal", "pipeline_id"): "source file (pipeline chosen per object)",
        ("deal", "person_id"): "the patient",
        ("deal", "org_id"): "the lab or referral practice named on the row",
    }

    def title(self, ctx: LoadContext, row: Row, org_name: str) -> str:
        raise NotImplementedError

    def extra(self, ctx: LoadContext, row: Row, body: dict[str, Any]) -> None:
        """Anything a kind adds to its deal's body."""

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        assert self.source is not None
        file = self.source
        for pid, rows in ctx.children(file).items():
            for r in rows:
                key = f"{file}:{r.source_id}"
                ctx.accounting.row(file, r, "migrated")
                yield Write(
                    "deals", key, lambda r=r, pid=pid, key=key: self.body(ctx, r, pid, key),
                    row=r, person=pid, keep_as=("deals", key),
                )  # fmt: skip

    def body(self, ctx: LoadContext, r: Row, pid: str, key: str) -> dict[str, Any]:
        assert self.source is not None
        b = ctx.builder
        org_name = ""
        org = None
        if self.org_name_role is not None:
            org_name = str(r.raw.get(b._col_name(self.source, self.org_name_role)) or "").strip()
            if org_name:
                org = ctx.ids["organizations"].get(f"{self.source}:org:{norm_name(org_name)}")
        body = b.deal(
            self.source, r, key, ctx.person_of(pid), org, self.status_map, self.outcome_map,
            self.pipeline, self.title(ctx, r, org_name),
        )  # fmt: skip
        self.extra(ctx, r, body)
        return body
