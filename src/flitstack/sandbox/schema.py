"""The account's data model as Pipedrive defines it: activity types, field types and kinds."""

from __future__ import annotations

from typing import Any

from flitstack.sandbox.store import Store

ACTIVITY_TYPES = [
    ("Call", "call"),
    ("Meeting", "meeting"),
    ("Task", "task"),
    ("Deadline", "deadline"),
    ("Email", "email"),
    ("Lunch", "lunch"),
]
CUSTOM_TYPES = {
    "varchar", "varchar_auto", "text", "double", "phone", "date", "daterange", "time",
    "timerange", "set", "enum", "address", "monetary", "org", "people", "user",
}  # fmt: skip
STANDARD_FIELDS: dict[str, list[tuple[str, str, str]]] = {
    "personFields": [
        ("Name", "name", "varchar"),
        ("Email", "emails", "varchar"),
        ("Phone", "phones", "phone"),
        ("Owner", "owner_id", "user"),
        ("Organization", "org_id", "org"),
        ("Visible to", "visible_to", "visible_to"),
    ],
    "organizationFields": [
        ("Name", "name", "varchar"),
        ("Owner", "owner_id", "user"),
        ("Address", "address", "address"),
        ("Visible to", "visible_to", "visible_to"),
    ],
    "dealFields": [
        ("Title", "title", "varchar"),
        ("Value", "value", "monetary"),
        ("Person", "person_id", "people"),
        ("Organization", "org_id", "org"),
        ("Pipeline", "pipeline_id", "int"),
        ("Stage", "stage_id", "stage"),
        ("Status", "status", "status"),
        ("Owner", "owner_id", "user"),
    ],
    "activityFields": [
        ("Subject", "subject", "varchar"),
        ("Type", "type", "varchar"),
        ("Due date", "due_date", "date"),
        ("Due time", "due_time", "time"),
        ("Duration", "duration", "time"),
        ("Done", "done", "boolean"),
        ("Note", "note", "text"),
    ],
}
FIELD_KIND = {
    "persons": "personFields",
    "organizations": "organizationFields",
    "deals": "dealFields",
    "activities": "activityFields",
}


def custom_fields(store: Store, kind: str) -> dict[str, dict[str, Any]]:
    """A record kind's custom fields by their hash key."""
    return {f["field_code"]: f for f in store.all(FIELD_KIND[kind])}
