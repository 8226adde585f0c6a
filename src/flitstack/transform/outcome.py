"""What a transform returns: the Pipedrive-ready value, or why it could not be made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flitstack.settings import Settings


@dataclass(frozen=True)
class Outcome:
    """``ok=False``: the value cannot go in (reported); ``flags``: it went in, but look at it."""

    value: Any = None
    ok: bool = True
    flags: tuple[str, ...] = ()
    reason: str | None = None


EMPTY = Outcome()


def fail(reason: str, *flags: str) -> Outcome:
    return Outcome(None, False, flags, reason)


@dataclass(frozen=True)
class TransformContext:
    """Settings and the column map's options, the only inputs a transform has besides the text."""

    settings: Settings = field(default_factory=Settings)
    options: dict[str, Any] = field(default_factory=dict)
    field_limit: int | None = None
