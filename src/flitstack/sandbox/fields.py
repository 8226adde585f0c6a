"""Changing custom fields (v2): a field's name and UI settings, and its options in bulk.

PATCH /v2/{kind}/{field_code} and POST, PATCH, DELETE /v2/{kind}/{field_code}/options for
person, organization and deal fields, as the v2 spec defines them. Listing, creating, reading
and deleting fields are in ``entities``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from flitstack.sandbox.account import Sandbox
from flitstack.sandbox.endpoints import Handler
from flitstack.sandbox.entities import _field_view
from flitstack.sandbox.envelope import ApiError, ok
from flitstack.sandbox.schema import FIELD_KIND, SETTING_GROUPS, STANDARD_FIELDS, field_settings
from flitstack.sandbox.store import now_iso
from flitstack.sandbox.validation import read_json

#: The field kinds whose fields and options the v2 spec lets a client change.
EDITABLE_FIELD_KINDS = ("personFields", "organizationFields", "dealFields")
#: Settings that are flags, wherever they appear (ui_visibility and the dialogs in it).
FLAGS = {
    "add_visible_flag", "details_visible_flag", "projects_detail_visible_flag", "enabled",
    "show", "show_in_all",
}  # fmt: skip
DIALOGS = ("show_in_add_deal_dialog", "show_in_add_person_dialog")


def _custom_field(sb: Sandbox, kind: str, code: str) -> dict[str, Any]:
    for f in sb.store.all(kind):
        if f["field_code"] == code:
            return f
    if any(c == code for _, c, _ in STANDARD_FIELDS[kind]):
        raise ApiError(400, f"{code} is a system field: only custom fields can be changed")
    raise ApiError(404, "Field not found")


def _ids(value: Any, name: str, sb: Sandbox, kind: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        raise ApiError(400, f"{name} must be an array of integers")
    for i in value:
        if sb.store.get(kind, i) is None:
            raise ApiError(400, f"{name}: {kind[:-1]} {i} does not exist")
    return list(value)


def _statuses(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, list) and all(s in {"won", "lost"} for s in v) for v in value.values()
    )


def _check_group(sb: Sandbox, group: str, value: Any) -> dict[str, Any]:
    """One settings object of a PATCH body, checked (unknown keys are kept, as the spec's
    additionalProperties allows)."""
    if not isinstance(value, dict):
        raise ApiError(400, f"{group} must be an object")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in FLAGS and not isinstance(item, bool):
            raise ApiError(400, f"{group}.{key} must be a boolean")
        if key == "stage_ids":
            item = _ids(item, f"{group}.stage_ids", sb, "stages")
        elif key in DIALOGS:
            if not isinstance(item, dict) or not isinstance(item.get("show", False), bool):
                raise ApiError(400, f"{group}.{key} must be an object with a boolean show")
            item = {"show": item.get("show", False)}  # its order is the system's to set
        elif key == "show_in_pipelines":
            if not isinstance(item, dict):
                raise ApiError(400, f"{group}.show_in_pipelines must be an object")
            if not isinstance(item.get("show_in_all", True), bool):
                raise ApiError(400, f"{group}.show_in_pipelines.show_in_all must be a boolean")
            if "pipeline_ids" in item:
                item = {**item, "pipeline_ids": _ids(item["pipeline_ids"], key, sb, "pipelines")}
        elif key == "statuses" and not _statuses(item):
            raise ApiError(400, f"{group}.statuses maps to arrays of 'won' or 'lost'")
        out[key] = item
    return out


def _dialog_orders(sb: Sandbox, kind: str, f: dict[str, Any], ui: dict[str, Any]) -> None:
    """A dialog's order is managed by Pipedrive: the next free one when a field is shown in
    it, null when it is not."""
    current = field_settings(kind, f)["ui_visibility"]
    for dialog in DIALOGS:
        if dialog not in ui:
            continue
        if not ui[dialog]["show"]:
            ui[dialog]["order"] = None
        elif current.get(dialog, {}).get("order") is not None:
            ui[dialog]["order"] = current[dialog]["order"]
        else:
            orders = [
                field_settings(kind, other)["ui_visibility"].get(dialog, {}).get("order")
                for other in sb.store.all(kind)
            ]
            ui[dialog]["order"] = max([o for o in orders if isinstance(o, int)], default=0) + 1


def _full_view(kind: str, f: dict[str, Any]) -> dict[str, Any]:
    return {**_field_view(kind, f), **field_settings(kind, f)}


def update_field(kind: str) -> Handler:
    async def handler(sb: Sandbox, request: Request) -> Response:
        f = _custom_field(sb, kind, request.path_params["code"])
        body = await read_json(request)
        if not isinstance(body, dict) or not body:
            raise ApiError(400, "At least one field must be provided in the request body")
        if "field_code" in body or "field_type" in body:
            raise ApiError(400, "The field_code and field_type cannot be changed")
        with sb.store.transaction():
            if "field_name" in body:
                name = body["field_name"]
                if not isinstance(name, str) or not name.strip() or len(name) > 255:
                    raise ApiError(400, "field_name must be 1-255 characters")
                f["field_name"] = name
            if "description" in body and kind == "dealFields":
                if body["description"] is not None and not isinstance(body["description"], str):
                    raise ApiError(400, "description must be a string")
                f["description"] = body["description"]
            settings = dict(f.get("settings") or {})
            for group in SETTING_GROUPS:
                if group in body:
                    changes = _check_group(sb, group, body[group])
                    if group == "ui_visibility":
                        _dialog_orders(sb, kind, f, changes)
                    settings[group] = {**(settings.get(group) or {}), **changes}
            f["settings"] = settings
            f["update_time"] = now_iso()
            sb.store.put(kind, f)
        return ok(_full_view(kind, f))

    return handler


async def _array_body(request: Request, needs: tuple[str, ...]) -> list[dict[str, Any]]:
    body = await read_json(request)
    if not isinstance(body, list) or not body:
        raise ApiError(400, "Request body must be a non-empty array of options")
    for i, item in enumerate(body):
        if not isinstance(item, dict) or any(k not in item for k in needs):
            raise ApiError(400, f"Option {i + 1} must be an object with {' and '.join(needs)}")
        if "id" in needs and (isinstance(item["id"], bool) or not isinstance(item["id"], int)):
            raise ApiError(400, f"Option {i + 1}: id must be an integer")
        label = item.get("label")
        if "label" in needs and (not isinstance(label, str) or not 1 <= len(label) <= 255):
            raise ApiError(400, f"Option {i + 1}: label must be 1-255 characters")
    return body


def _purge_options(sb: Sandbox, kind: str, f: dict[str, Any], gone: set[int]) -> None:
    """Values that named a deleted option lose it, on every record, as in Pipedrive."""
    records = next(k for k, v in FIELD_KIND.items() if v == kind)
    code = f["field_code"]
    for rec in sb.store.all(records):
        custom = rec.get("custom_fields") or {}
        value = custom.get(code)
        if isinstance(value, list) and gone & set(value):
            custom[code] = [v for v in value if v not in gone] or None
        elif isinstance(value, int) and value in gone:
            custom[code] = None
        else:
            continue
        sb.store.put(records, rec)


def field_options(kind: str) -> Handler:
    """Options of an enum or set field in bulk; each call is atomic, all or nothing."""

    async def handler(sb: Sandbox, request: Request) -> Response:
        f = _custom_field(sb, kind, request.path_params["code"])
        needs = {"POST": ("label",), "PATCH": ("id", "label"), "DELETE": ("id",)}
        body = await _array_body(request, needs[request.method])
        if f["field_type"] not in {"enum", "set"}:
            raise ApiError(400, f"Field {f['field_name']!r} ({f['field_type']}) has no options")
        options: list[dict[str, Any]] = list(f.get("options") or [])
        by_id = {o["id"]: o for o in options}
        with sb.store.transaction():
            if request.method == "POST":
                labels = [o["label"] for o in options]
                for item in body:
                    if item["label"] in labels:
                        raise ApiError(400, f"Option {item['label']!r} already exists")
                    labels.append(item["label"])
                now = now_iso()
                done = [{"id": sb.store.next_id("option"), "label": item["label"]} for item in body]
                options += [{**o, "add_time": now, "update_time": now} for o in done]
            else:
                missing = [item["id"] for item in body if item["id"] not in by_id]
                if missing:
                    raise ApiError(400, f"No option with id {missing[0]} in this field")
                if request.method == "PATCH":
                    for item in body:
                        by_id[item["id"]].update(label=item["label"], update_time=now_iso())
                    done = [{"id": i["id"], "label": i["label"]} for i in body]
                else:
                    gone = {item["id"] for item in body}
                    done = [{"id": o["id"], "label": o["label"]} for o in by_id.values()]
                    done = [o for o in done if o["id"] in gone]
                    options = [o for o in options if o["id"] not in gone]
                    _purge_options(sb, kind, f, gone)
            f["options"] = options
            sb.store.put(kind, f)
        return ok(done)

    return handler
