"""The v2 request bodies the sandbox checks before a handler sees them, as Pipedrive's v2
OpenAPI spec declares them: each property's type, nested objects and array items.

Pipedrive ignores a property an operation does not declare, so the sandbox drops it (it is
neither stored nor echoed; an ``id`` in a body is one of those); a declared property of the wrong
type is a 400 naming it. ``null`` clears a value and is accepted for any property (the record's
own rules decide whether it may be empty).

A schema here is a JSON type name (``"string"``, ``"integer"``, ``"number"``, ``"boolean"``,
``"object"`` for an object of any keys, ``"any"``), ``[item]`` for an array of ``item``, or a
dict of property schemas for an object whose other keys are dropped (a ``"*"`` key keeps them:
the spec's ``additionalProperties``). tests/pipedrive/test_sandbox_fidelity.py checks every entry
against the spec.

Not here: the field PATCH operations (their handler in ``fields`` checks its body itself and
refuses ``field_code`` and ``field_type`` as the spec says) and bodies that are arrays (field
options).
"""

from __future__ import annotations

from typing import Any

Body = dict[str, Any]


PERSON: Body = {
    "name": "string",
    "owner_id": "integer",
    "org_id": "integer",
    "add_time": "string",
    "update_time": "string",
    "emails": [{"value": "string", "primary": "boolean", "label": "string"}],
    "phones": [{"value": "string", "primary": "boolean", "label": "string"}],
    "visible_to": "integer",
    "label_ids": ["integer"],
    "marketing_status": "string",
    "custom_fields": "object",
}

ORGANIZATION: Body = {
    "name": "string",
    "owner_id": "integer",
    "add_time": "string",
    "update_time": "string",
    "visible_to": "integer",
    "label_ids": ["integer"],
    "address": {
        "value": "string",
        "country": "string",
        "admin_area_level_1": "string",
        "admin_area_level_2": "string",
        "locality": "string",
        "sublocality": "string",
        "route": "string",
        "street_number": "string",
        "subpremise": "string",
        "postal_code": "string",
    },
    "custom_fields": "object",
}

DEAL: Body = {
    "title": "string",
    "owner_id": "integer",
    "person_id": "integer",
    "org_id": "integer",
    "pipeline_id": "integer",
    "stage_id": "integer",
    "value": "number",
    "currency": "string",
    "is_deleted": "boolean",
    "is_archived": "boolean",
    "archive_time": "string",
    "status": "string",
    "probability": "number",
    "lost_reason": "string",
    "visible_to": "integer",
    "close_time": "string",
    "won_time": "string",
    "lost_time": "string",
    "expected_close_date": "string",
    "label_ids": ["integer"],
    "custom_fields": "object",
}

ACTIVITY: Body = {
    "subject": "string",
    "type": "string",
    "owner_id": "integer",
    "deal_id": "integer",
    "lead_id": "string",
    "person_id": "integer",
    "org_id": "integer",
    "project_id": "integer",
    "due_date": "string",
    "due_time": "string",
    "duration": "string",
    "busy": "boolean",
    "done": "boolean",
    "location": {
        "value": "string",
        "country": "string",
        "admin_area_level_1": "string",
        "admin_area_level_2": "string",
        "locality": "string",
        "sublocality": "string",
        "route": "string",
        "street_number": "string",
        "subpremise": "string",
        "postal_code": "string",
    },
    "participants": [{"person_id": "integer", "primary": "boolean"}],
    "attendees": [
        {
            "email": "string",
            "name": "string",
            "status": "string",
            "is_organizer": "boolean",
            "person_id": "integer",
            "user_id": "integer",
        }
    ],
    "public_description": "string",
    "priority": "integer",
    "note": "string",
}

PIPELINE: Body = {"name": "string", "is_deal_probability_enabled": "boolean"}

STAGE: Body = {
    "name": "string",
    "pipeline_id": "integer",
    "deal_probability": "integer",
    "is_deal_rot_enabled": "boolean",
    "days_to_rotten": "integer",
}


def _field_body(visibility: Body, required: Body | None = None, **more: Any) -> Body:
    """The body of a custom field's create or update: what every kind of field takes, its
    own ``ui_visibility`` flags and ``required_fields`` settings, and anything more."""
    return {
        "field_name": "string",
        "field_type": "string",
        "options": [{"label": "string"}],
        "ui_visibility": {
            "add_visible_flag": "boolean",
            "details_visible_flag": "boolean",
            **visibility,
            "*": "any",
        },
        "important_fields": {"enabled": "boolean", "stage_ids": ["integer"], "*": "any"},
        "required_fields": {"enabled": "boolean", **(required or {}), "*": "any"},
        **more,
    }


_DIALOG = {"show": "boolean", "order": "integer"}
PERSON_FIELD: Body = _field_body({"show_in_add_deal_dialog": _DIALOG})
ORGANIZATION_FIELD: Body = _field_body(
    {"show_in_add_deal_dialog": _DIALOG, "show_in_add_person_dialog": _DIALOG}
)
DEAL_FIELD: Body = _field_body(
    {
        "projects_detail_visible_flag": "boolean",
        "show_in_pipelines": {"show_in_all": "boolean", "pipeline_ids": ["integer"]},
    },
    {"stage_ids": ["integer"], "statuses": "object"},
    description="string",
)


#: (method, v2 spec path) -> the body schema of that operation.
BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/persons"): PERSON,
    ("PATCH", "/persons/{id}"): PERSON,
    ("POST", "/organizations"): ORGANIZATION,
    ("PATCH", "/organizations/{id}"): ORGANIZATION,
    ("POST", "/deals"): DEAL,
    ("PATCH", "/deals/{id}"): DEAL,
    ("POST", "/activities"): ACTIVITY,
    ("PATCH", "/activities/{id}"): ACTIVITY,
    ("POST", "/pipelines"): PIPELINE,
    ("PATCH", "/pipelines/{id}"): PIPELINE,
    ("POST", "/stages"): STAGE,
    ("PATCH", "/stages/{id}"): STAGE,
    ("POST", "/personFields"): PERSON_FIELD,
    ("POST", "/organizationFields"): ORGANIZATION_FIELD,
    ("POST", "/dealFields"): DEAL_FIELD,
}
