"""The record rules: custom field values checked against their types, links that must exist,
and each kind's required fields and defaults, applied to a create or a patch body."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flitstack.sandbox.envelope import ApiError
from flitstack.sandbox.schema import custom_fields
from flitstack.sandbox.store import Store, now_iso
from flitstack.sandbox.validation import as_date, as_int, as_timestamp


def require(store: Store, kind: str, record_id: Any, name: str) -> dict[str, Any]:
    rec = store.get(kind, as_int(record_id, name))
    if rec is None:
        raise ApiError(400, f"{name} {record_id} does not exist")
    return rec


# --- custom fields -------------------------------------------------------------------------------
def check_custom(store: Store, kind: str, values: Any) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ApiError(400, "custom_fields must be an object")
    fields = custom_fields(store, kind)
    out: dict[str, Any] = {}
    for key, value in values.items():
        f = fields.get(key)
        if f is None:
            raise ApiError(400, f"Unknown custom field key: {key}")
        out[key] = None if value is None else _check_value(store, f, value)
    return out


def _check_value(store: Store, f: dict[str, Any], value: Any) -> Any:
    t, name = f["field_type"], f["field_name"]
    if t in {"varchar", "varchar_auto", "phone"}:
        if not isinstance(value, str) or len(value) > 255:
            raise ApiError(400, f"Field {name!r} ({t}) takes a string of up to 255 characters")
        return value
    if t == "text":
        if not isinstance(value, str):
            raise ApiError(400, f"Field {name!r} (text) takes a string")
        return value
    if t == "double":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ApiError(400, f"Field {name!r} (double) takes a number")
        return value
    if t == "date":
        return as_date(value, name)
    if t == "monetary":
        if not isinstance(value, dict) or not isinstance(value.get("value"), int | float):
            raise ApiError(400, f"Field {name!r} (monetary) takes {{value, currency}}")
        currency = value.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            raise ApiError(400, f"Field {name!r} (monetary) needs a 3-letter currency")
        return {"value": value["value"], "currency": currency}
    if t in {"enum", "set"}:
        ids = {o["id"] for o in f.get("options") or []}
        items = value if t == "set" else [value]
        if t == "set" and not isinstance(value, list):
            raise ApiError(400, f"Field {name!r} (set) takes a list of option IDs")
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int) or item not in ids:
                raise ApiError(400, f"Field {name!r}: {item!r} is not one of its option IDs")
        return value
    if t in {"org", "people", "user"}:
        kind = {"org": "organizations", "people": "persons", "user": "users"}[t]
        require(store, kind, as_int(value, name), name)
        return int(value)
    if t == "address":
        if isinstance(value, str):
            return {"value": value}
        if isinstance(value, dict) and isinstance(value.get("value"), str):
            return value
        raise ApiError(400, f"Field {name!r} (address) takes {{value: ...}}")
    return value


# --- entity rules --------------------------------------------------------------------------------
#: Keys a create or patch body cannot set: the record's identity and what the system keeps.
READ_ONLY = frozenset({"id", "creator_user_id"})


def _contacts(items: Any, name: str) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise ApiError(400, f"{name} must be an array")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise ApiError(400, f"{name}[{i}] must be an object with a string value")
        out.append(
            {
                "value": item["value"],
                "primary": bool(item.get("primary", i == 0)),
                "label": str(item.get("label") or "work"),
            }
        )
    return out


def build(
    store: Store, kind: str, body: dict[str, Any], old: dict[str, Any] | None
) -> dict[str, Any]:
    """Validate a create (old is None) or patch body and return the new record."""
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    rec: dict[str, Any] = dict(old) if old else {}
    admin = store.all("users", limit=1)[0]["id"]
    for key, value in body.items():
        if key in READ_ONLY:
            continue  # Pipedrive ignores these in a body; the record keeps its own
        if key == "custom_fields":
            merged = dict(rec.get("custom_fields") or {})
            merged.update(check_custom(store, kind, value))
            rec["custom_fields"] = merged
        elif key in {"owner_id", "user_id"} and value is not None:
            rec[key] = require(store, "users", value, key)["id"]
        elif key == "org_id" and value is not None:
            rec[key] = require(store, "organizations", value, key)["id"]
        elif key == "person_id" and value is not None:
            rec[key] = require(store, "persons", value, key)["id"]
        elif key == "deal_id" and value is not None:
            rec[key] = require(store, "deals", value, key)["id"]
        elif key in {"emails", "phones"}:
            rec[key] = _contacts(value, key)
        elif key in {"add_time", "won_time", "lost_time", "close_time"} and value:
            rec[key] = as_timestamp(value, key)
        elif key in {"due_date", "expected_close_date"} and value:
            rec[key] = as_date(value, key)
        elif key in {"visible_to"} and value is not None:
            if as_int(value, key) not in {1, 3, 5, 7}:
                raise ApiError(400, "visible_to must be 1, 3, 5 or 7")
            rec[key] = int(value)
        else:
            rec[key] = value
    now = now_iso()
    rec.setdefault("custom_fields", {})
    if old is None:
        rec.setdefault("add_time", now)
        rec.setdefault("owner_id", admin)
        rec.setdefault("visible_to", 3)
        rec["is_deleted"] = False
    rec["update_time"] = now
    _CHECKS[kind](store, rec, body)
    return rec


def _check_persons(store: Store, rec: dict[str, Any], body: dict[str, Any]) -> None:
    if not isinstance(rec.get("name"), str) or not rec["name"].strip():
        raise ApiError(400, "Name must be given.")
    rec.setdefault("emails", [])
    rec.setdefault("phones", [])
    rec.setdefault("org_id", None)
    rec.setdefault("label_ids", [])
    if "marketing_status" in body:
        allowed = {"no_consent", "unsubscribed", "subscribed", "archived"}
        if rec["marketing_status"] not in allowed:
            raise ApiError(400, f"marketing_status must be one of {sorted(allowed)}")
        if rec["marketing_status"] == "subscribed" and not rec["emails"]:
            rec["marketing_status"] = "no_consent"
    parts = rec["name"].split(" ", 1)
    rec["first_name"], rec["last_name"] = parts[0], parts[1] if len(parts) > 1 else ""


def _check_organizations(store: Store, rec: dict[str, Any], body: dict[str, Any]) -> None:
    if not isinstance(rec.get("name"), str) or not rec["name"].strip():
        raise ApiError(400, "Name must be given.")
    address = rec.get("address")
    if address is not None and not (isinstance(address, dict) and "value" in address):
        raise ApiError(400, "address must be an object with a value")
    rec.setdefault("address", None)
    rec.setdefault("label_ids", [])


def _check_deals(store: Store, rec: dict[str, Any], body: dict[str, Any]) -> None:
    if not isinstance(rec.get("title"), str) or not rec["title"].strip():
        raise ApiError(400, "Title must be given.")
    if rec.get("stage_id") is not None:
        stage = require(store, "stages", rec["stage_id"], "stage_id")
        if rec.get("pipeline_id") is not None and rec["pipeline_id"] != stage["pipeline_id"]:
            raise ApiError(400, "stage_id does not belong to pipeline_id")
        rec["pipeline_id"] = stage["pipeline_id"]
    elif rec.get("pipeline_id") is not None:
        require(store, "pipelines", rec["pipeline_id"], "pipeline_id")
        stages = [s for s in store.all("stages") if s["pipeline_id"] == rec["pipeline_id"]]
        if not stages:
            raise ApiError(400, "The pipeline has no stages")
        rec["stage_id"] = stages[0]["id"]
    value = rec.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ApiError(400, "value must be a number")
    status = rec.setdefault("status", "open")
    if status not in {"open", "won", "lost", "deleted"}:
        raise ApiError(400, "status must be open, won or lost")
    rec.setdefault("currency", "USD")
    rec.setdefault("value", 0)
    for key in ("person_id", "org_id", "expected_close_date", "lost_reason"):
        rec.setdefault(key, None)
    if status == "won":
        rec.setdefault("won_time", rec["update_time"])
    if status == "lost":
        rec.setdefault("lost_time", rec["update_time"])


def _check_activities(store: Store, rec: dict[str, Any], body: dict[str, Any]) -> None:
    types = {t["key_string"] for t in store.all("activityTypes")}
    rec.setdefault("type", "task")
    if rec["type"] not in types:
        raise ApiError(400, f"Activity type {rec['type']!r} does not exist")
    rec.setdefault("subject", rec["type"].title())
    for key in ("due_time", "duration"):
        if rec.get(key) and not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", str(rec[key])):
            raise ApiError(400, f"{key} must be HH:MM")
    if "done" in rec and not isinstance(rec["done"], bool):
        raise ApiError(400, "done must be a boolean")
    rec.setdefault("done", False)
    location = rec.get("location")
    if location is not None and not (isinstance(location, dict) and "value" in location):
        raise ApiError(400, "location must be an object with a value")
    for key in ("person_id", "org_id", "deal_id", "due_date", "due_time", "note"):
        rec.setdefault(key, None)
    rec.setdefault("participants", [])
    if rec["person_id"] and not rec["participants"]:
        rec["participants"] = [{"person_id": rec["person_id"], "primary": True}]


_CHECKS: dict[str, Callable[[Store, dict[str, Any], dict[str, Any]], None]] = {
    "persons": _check_persons,
    "organizations": _check_organizations,
    "deals": _check_deals,
    "activities": _check_activities,
}
