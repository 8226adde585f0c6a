"""Documents (x-rays, consent forms, photos) → Files attached to the person."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable
from pathlib import Path

from flitstack.engine.load import LoadContext, Upload, Write, file_marker
from flitstack.engine.objects import register
from flitstack.engine.objects.base import SourceKind
from flitstack.source.reader import Row
from flitstack.source.schema import role


def _slug(text: str, limit: int = 60) -> str:
    """Words of a label fit for a file name: letters and digits, joined by hyphens."""
    return "-".join(re.findall(r"[^\W_]+", text))[:limit].strip("-")


@register
class Documents(SourceKind):
    keyed = True
    name = "documents"
    source = "documents"
    creates = "files"
    after = ("patients",)
    sample_feature = "documents"
    derived = {
        ("file", "name"): "the document's file name",
        ("file", "file_size"): "the document file",
        ("file", "person_id"): "the document's patient",
    }

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        export = ctx.shared["export"]
        path_role = role("documents", "file_name")
        for pid, rows in ctx.children("documents").items():
            for r in rows:
                rel = str(r.raw.get(path_role) or "").strip()
                problem = export.document_problem(rel) if rel else "no document file named"
                if problem is not None:
                    ctx.accounting.row("documents", r, "rejected", problem, path_role)
                    continue
                ctx.accounting.row("documents", r, "migrated")
                yield Write(
                    "files", f"documents:{r.source_id}", dict, row=r, person=pid,
                    upload=lambda r=r, rel=rel, pid=pid: self.upload(ctx, r, rel, pid),
                )  # fmt: skip

    def upload(self, ctx: LoadContext, r: Row, rel: str, pid: str) -> Upload:
        # streamed from the export when sent (and again if the upload is retried): never read
        # whole; one over Pipedrive's size limit was rejected on its row above
        blob = ctx.shared["export"].document(rel)
        mime = (
            str(r.raw.get(role("documents", "mime_type")) or "")
            or mimetypes.guess_type(rel)[0]
            or "application/octet-stream"
        )
        # what the document is (its type and description) goes in its name: Pipedrive's
        # upload takes a file and its links, nothing else
        label = [_slug(str(r.values.get(role("documents", part)) or ""))
                 for part in ("document_type", "description")]  # fmt: skip
        name = " ".join(
            (file_marker(f"documents:{r.source_id}"),
             "-".join(p for p in (*label, Path(rel).name) if p))
        )  # fmt: skip
        return (name, blob, mime, {"person_id": ctx.person_of(pid)})
