"""The account's data model as Pipedrive defines it: activity types, field types and kinds."""

from __future__ import annotations

import copy
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


def _dialog() -> dict[str, Any]:
    return {"show": False, "order": None}


#: A field's UI settings before anyone changes them (the v2 field PATCH bodies' defaults).
DEFAULT_UI_VISIBILITY: dict[str, dict[str, Any]] = {
    "personFields": {
        "add_visible_flag": False,
        "details_visible_flag": True,
        "show_in_add_deal_dialog": _dialog(),
    },
    "organizationFields": {
        "add_visible_flag": False,
        "details_visible_flag": True,
        "show_in_add_deal_dialog": _dialog(),
        "show_in_add_person_dialog": _dialog(),
    },
    "dealFields": {
        "add_visible_flag": False,
        "details_visible_flag": True,
        "projects_detail_visible_flag": False,
        "show_in_pipelines": {"show_in_all": True, "pipeline_ids": []},
    },
    "activityFields": {"add_visible_flag": False, "details_visible_flag": True},
}
SETTING_GROUPS = ("ui_visibility", "important_fields", "required_fields")


def field_settings(kind: str, f: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A field's ui_visibility, important_fields and required_fields: defaults, then what was
    set (PATCH /v2/{kind}/{field_code}), nested objects merged one level down."""
    defaults: dict[str, dict[str, Any]] = {
        "ui_visibility": DEFAULT_UI_VISIBILITY[kind],
        "important_fields": {"enabled": False, "stage_ids": []},
        "required_fields": {"enabled": False}
        if kind != "dealFields"
        else {"enabled": False, "stage_ids": [], "statuses": {}},
    }
    out: dict[str, dict[str, Any]] = {}
    for group in SETTING_GROUPS:
        merged = copy.deepcopy(defaults[group])
        for key, value in ((f.get("settings") or {}).get(group) or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        out[group] = merged
    return out
