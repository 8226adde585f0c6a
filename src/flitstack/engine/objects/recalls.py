"""Recalls: merged into the person (next due recall's fields); the last visit → a Task."""

from __future__ import annotations

from collections.abc import Iterable

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.objects import register
from flitstack.engine.objects.base import MergedKind


@register
class Recalls(MergedKind):
    name = "recalls"
    source = "recalls"
    creates = "activities"  # the last recall visit, as a done Task with a recall flag
    after = ("patients",)
    sample_feature = "recall"

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        yield from super().writes(ctx)
        b = ctx.builder
        for pid, rows in ctx.children("recalls").items():
            _custom, last = b.recall_extras(rows)
            if last is None:
                continue
            key = f"recalls:{last.source_id}:last-visit"
            yield Write(
                "activities", key,
                lambda last=last, pid=pid, key=key: b.recall_task(
                    last, ctx.person_of(pid), b.setup.fallback_user, key
                ),
                row=last, person=pid,
            )  # fmt: skip
