"""Dental labs and referral practices named on lab cases and referrals → Organizations."""

from __future__ import annotations

from collections.abc import Iterable

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.objects import register
from flitstack.engine.objects.base import SourceKind
from flitstack.engine.records import norm_name
from flitstack.source.reader import Row


class _SideOrgs(SourceKind):
    """Organizations named by a child file's rows (no source rows of their own to account)."""

    of: str  # the file whose rows name them
    name_role: str  # the role of the column holding the name
    org_type: str

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        b = ctx.builder
        made: set[str] = ctx.shared.setdefault(f"{self.name}:made", set())
        seen: dict[str, tuple[Row, str]] = {}
        for items in ctx.children(self.of).values():
            for r in items:
                name = str(r.raw.get(b._col_name(self.of, self.name_role)) or "").strip()
                key = f"{self.of}:org:{norm_name(name)}"
                if name and key not in made:
                    seen.setdefault(key, (r, name))
        made.update(seen)
        for key, (r, name) in seen.items():
            yield Write(
                "organizations", key,
                lambda r=r, name=name, key=key: b.organization(
                    self.of, r, name, self.org_type, key
                ),
                row=r, keep_as=("organizations", key), match="organization", name=name,
            )  # fmt: skip


@register
class LabOrgs(_SideOrgs):
    name = "dental_labs"
    creates = "organizations"
    of, name_role, org_type = "lab_cases", "name", "Dental Lab"


@register
class ReferralOrgs(_SideOrgs):
    name = "referral_practices"
    creates = "organizations"
    of, name_role, org_type = "referrals", "name", "Referral Practice"
