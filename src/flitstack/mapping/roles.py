"""Bindings: which export header plays which role, as the map says.

A practice's export never has exactly the column names of the MDC format. The map (confirmed,
or proposed while nothing is confirmed yet) says, for every header, which MDC column it stands
for: its *role*. The reader takes a file's bindings and hands out rows keyed by role, so every
later step (audit checks, estimate, sample pick, load, verify, delta) reads a value by what it
means, never by how one export happened to spell its header.

A header the map does not know keeps its own name; one whose name would shadow a role another
header plays is renamed ``"<header> (not in the map)"`` so it can never be read as that role.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flitstack.errors import BadInput
from flitstack.source.schema import FILES

if TYPE_CHECKING:  # the audit reads headers through here without loading the workbook's YAML
    from flitstack.mapping.workbook import ColumnMap, Workbook


class BindingError(BadInput):
    """The map leaves a role the run cannot do without unbound (names file and role)."""


def header_key(header: str) -> str:
    """How headers are compared: case, spaces and a byte-order mark do not matter."""
    return "".join(header.replace("\ufeff", "").split()).casefold()


@dataclass
class FileBinding:
    """One file's headers → the names its rows hold them under."""

    file: str
    #: normalised header → role (or the header itself for a column the format does not know)
    keys: dict[str, str] = field(default_factory=dict)
    #: role → the header as the export spells it (for messages)
    headers: dict[str, str] = field(default_factory=dict)

    def name_for(self, header: str, position: int) -> str:
        clean = header.replace("\ufeff", "").strip()
        key = self.keys.get(header_key(clean))
        if key is not None:
            return key
        if not clean:
            return f"column_{position + 1}"
        if clean in self.headers and self.headers[clean] != clean:
            return f"{clean} (not in the map)"
        return clean

    def header_of(self, role: str) -> str | None:
        return self.headers.get(role)

    def bound(self, role: str) -> bool:
        return role in self.headers


@dataclass
class Bindings:
    """Every file's binding, built once from a workbook."""

    files: dict[str, FileBinding] = field(default_factory=dict)
    #: the export writes slash dates day first (the workbook's ``date_order``)
    day_first: bool = False

    @classmethod
    def from_columns(cls, columns: Iterable[ColumnMap]) -> Bindings:
        out = cls()
        for c in columns:
            fb = out.files.setdefault(c.file, FileBinding(c.file))
            fb.keys[header_key(c.column)] = c.key
            fb.headers.setdefault(c.key, c.column)
        return out

    @classmethod
    def from_workbook(cls, wb: Workbook) -> Bindings:
        out = cls.from_columns(wb.columns)
        out.day_first = wb.date_order == "day-first"
        return out

    def for_file(self, file: str) -> FileBinding | None:
        return self.files.get(file)

    def header(self, file: str, role: str) -> str:
        """The export's header for a role (the role itself when unbound), for messages."""
        fb = self.files.get(file)
        return (fb.header_of(role) if fb else None) or role

    def missing_identity(self, present: Iterable[str]) -> list[str]:
        """Files present whose ID column has no header bound to it: their rows cannot be told
        apart, so nothing can be migrated exactly once (each as one line for the person)."""
        out = []
        for file in present:
            spec = FILES.get(file)
            fb = self.files.get(file)
            if spec is None or spec.id_column is None or fb is None:
                continue
            if not fb.bound(spec.id_column):
                out.append(
                    f"{file}.csv: no column is mapped to the role {spec.id_column} (the row's own "
                    f"ID): set `role: {spec.id_column}` on the column that holds it in the "
                    "workbook, or run `flitstack map set-role`"
                )
        return out
