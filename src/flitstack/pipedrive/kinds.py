"""One registry of the Pipedrive object kinds the migration writes: for each, the API version it
lives on, the workbook target it comes from, its custom-field entity, how it is created, updated
and read back, and how a record whose answer was lost is found again. The client, the engine,
verify, rollback and the estimate read it, so a kind's facts are stated once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectKind:
    name: str  # as in the API path: persons, organizations, …
    target: str  # the workbook's name for it: person, organization, …
    api: str  # "v2" where Pipedrive has it, else "v1"
    fields: str | None = None  # custom-field entity (``/v2/{fields}Fields``), None: none
    update: str = "PATCH"
    #: how a lost create is found again: "search" by the source-ID custom field, "marker" (the
    #: ``MDC ref`` line in a person's notes or activities), "person_files" (the person's files)
    lookup: str = "search"

    @property
    def create_path(self) -> str:
        return f"/{self.api}/{self.name}"

    def record_path(self, record_id: int) -> str:
        return f"/{self.api}/{self.name}/{record_id}"


KINDS: dict[str, ObjectKind] = {
    k.name: k
    for k in (
        ObjectKind("organizations", "organization", "v2", "organization"),
        ObjectKind("persons", "person", "v2", "person"),
        ObjectKind("activities", "activity", "v2", lookup="marker"),
        ObjectKind("deals", "deal", "v2", "deal"),
        ObjectKind("notes", "note", "v1", update="PUT", lookup="marker"),
        ObjectKind("files", "file", "v1", update="PUT", lookup="person_files"),
    )
}
#: The order records are created in (and deleted in reverse by a rollback).
LOAD_ORDER: tuple[str, ...] = tuple(KINDS)
