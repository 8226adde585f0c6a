"""What an object kind declares (the way a dlt resource or a Singer stream does).

A kind names the export file it reads (``source``), the file its rows hang under (``parent``:
grouped by the patient reference the schema declares), the Pipedrive object it makes
(``creates``), the kinds it must come after (``after``), the hard case its rows stand for when
a sample is picked (``sample_feature``, or ``features`` per row), the payload fields it derives
rather than reads from one column (``derived``, shown by verify), and template methods:
``writes`` (the records to create, with each source row's outcome) and, rarely, ``select`` and
``after_writes``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from flitstack.engine.load import LoadContext, Write
from flitstack.engine.records import Builder
from flitstack.engine.staging import group_key
from flitstack.source.reader import Row
from flitstack.source.schema import role

#: The role a file the MDC format does not know names its patient by.
PATIENT_ID = role("patients", "patient_id")


class SourceKind:
    """One source object kind. Subclass, set the declarations, implement ``writes``."""

    name: ClassVar[str]
    source: ClassVar[str | None] = None  # None: made from other kinds' rows
    parent: ClassVar[str | None] = "patients"
    creates: ClassVar[str | None] = None  # Pipedrive object kind, None: merged into another
    after: ClassVar[tuple[str, ...]] = ()
    sample_feature: ClassVar[str | None] = None
    derived: ClassVar[dict[tuple[str, str], str]] = {}
    #: each row becomes one record keyed ``<file>:<source id>`` (the delta follows it by key)
    keyed: ClassVar[bool] = False

    @property
    def parent_role(self) -> str:
        """The role (MDC column) that names the row's parent (its patient; a plan item's plan)."""
        return (group_key(self.source) if self.source else None) or PATIENT_ID

    def features(self, row: Row, b: Builder) -> Iterable[str]:
        """The hard cases a row makes its patient an example of, for the sample pick."""
        return (self.sample_feature,) if self.sample_feature else ()

    def select(self, ctx: LoadContext) -> None:
        """Before anything is grouped: decide what of this kind's own rows takes part."""

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        """The records to create; every source row of ``source`` gets its outcome here."""
        return ()

    def after_writes(self, ctx: LoadContext) -> None:
        """After this kind's records exist: hand their IDs to kinds that come later."""

    def finish(self, ctx: LoadContext) -> None:
        """After every chunk: account what could only be known once all ran."""


class MergedKind(SourceKind):
    """A child file whose rows fold into their patient's record (no record of their own)."""

    def writes(self, ctx: LoadContext) -> Iterable[Write]:
        assert self.source is not None
        for rows in ctx.children(self.source).values():
            ctx.accounting.row(self.source, None, "merged", count=len(rows))
        return ()
