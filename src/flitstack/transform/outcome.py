"""What a transform returns: the Pipedrive-ready value, or why it could not be made."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flitstack.settings import Settings


@dataclass(frozen=True)
class Outcome:
    """``ok=False``: the value cannot go in (reported); ``flags``: it went in, but look at it.

    ``reason`` is human-readable and never repeats the raw value in full, so reports stay safe to
    share.
    """

    value: Any = None
    ok: bool = True
    flags: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def flag(self) -> str | None:
        """The first flag, for callers that show one review marker per value."""
        return self.flags[0] if self.flags else None


EMPTY = Outcome()


def fail(reason: str, *flags: str) -> Outcome:
    """A value that cannot go into its field, with why."""
    return Outcome(None, False, flags, reason)


def flagged(value: Any, flag: str, reason: str) -> Outcome:
    """A value that went in but that someone should look at."""
    return Outcome(value, True, (flag,), reason)


@dataclass(frozen=True)
class TransformContext:
    """Settings and the column map's options, the only inputs a transform has besides the text.

    ``reference_date`` is the day the export was taken: two-digit years and ``past_only`` dates
    are judged against it (``None``: today in the practice's time zone).
    """

    settings: Settings = field(default_factory=Settings)
    options: dict[str, Any] = field(default_factory=dict)
    field_limit: int | None = None
    reference_date: datetime.date | None = None


Transform = Callable[[str | None, TransformContext], Outcome]


def preview(text: str, keep: int = 12) -> str:
    """A short, cut excerpt of a bad value for a reason (never the whole value)."""
    flat = " ".join(text.split())
    return repr(flat[:keep] + "…") if len(flat) > keep else repr(flat)
