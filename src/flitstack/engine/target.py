"""Where the runner's writes go: the small protocol the engine talks to.

:class:`~flitstack.engine.migration.Migration` is the Pipedrive target: each write goes through
its write-once protocol (intent → create → record; a lost answer looked up before any retry;
duplicate policy for people and organizations that were there before). :class:`InMemoryTarget`
keeps records in a dict, so the runner's ordering and accounting are tested in milliseconds,
the way httpx's ``MockTransport`` stands in for a network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flitstack.engine.load import LoadContext, Write


class Target(Protocol):
    async def write(self, w: Write, ctx: LoadContext) -> int:
        """Create the record ``w`` describes exactly once and return its ID."""
        ...


class InMemoryTarget:
    """Records by kind, in the order written; a key written twice keeps its first ID."""

    def __init__(self) -> None:
        self.records: dict[str, dict[int, dict[str, Any]]] = {}
        self.keys: dict[str, int] = {}
        self.order: list[tuple[str, str]] = []  # (kind, key) as written
        self._next = 0

    async def write(self, w: Write, ctx: LoadContext) -> int:
        if w.key in self.keys:
            return self.keys[w.key]
        body = dict(w.build())
        if w.upload is not None:
            name, content, mime, links = w.upload()
            body.update({"name": name, "file_size": len(content), "mime": mime, **links})
        self._next += 1
        self.records.setdefault(w.kind, {})[self._next] = body
        self.keys[w.key] = self._next
        self.order.append((w.kind, w.key))
        return self._next
