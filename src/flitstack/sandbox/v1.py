"""Routes Pipedrive still serves on v1: users, activity types, notes and files."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from flitstack.sandbox.account import Sandbox
from flitstack.sandbox.endpoints import Handler
from flitstack.sandbox.envelope import ApiError, ok
from flitstack.sandbox.schema import STANDARD_FIELDS, field_settings
from flitstack.sandbox.search import SEARCHABLE_TYPES
from flitstack.sandbox.store import now_iso
from flitstack.sandbox.validation import as_int, as_timestamp, json_body

#: Where an upload's bytes are kept (GET /v1/files/{id}/download), beside its record.
FILE_CONTENT = "fileContent"


async def users(sb: Sandbox, request: Request) -> Response:
    return ok(sb.store.all("users"))


async def users_me(sb: Sandbox, request: Request) -> Response:
    me = sb.store.all("users", limit=1)[0]
    return ok({**me, "company_domain": sb.config.company_domain})


async def user_one(sb: Sandbox, request: Request) -> Response:
    user = sb.store.get("users", as_int(request.path_params["id"], "id"))
    if user is None:
        raise ApiError(404, "User not found")
    return ok(user)


async def users_find(sb: Sandbox, request: Request) -> Response:
    term = (request.query_params.get("term") or "").casefold().strip()
    if not term:
        raise ApiError(400, "term is required")
    by_email = request.query_params.get("search_by_email") in {"1", "true"}
    key = "email" if by_email else "name"
    found = [u for u in sb.store.all("users") if term in str(u.get(key, "")).casefold()]
    return ok(found)  # the spec's data is an array, empty when nobody matches


async def activity_types(sb: Sandbox, request: Request) -> Response:
    return ok(sb.store.all("activityTypes"))


def _links(sb: Sandbox, body: dict[str, Any], rec: dict[str, Any]) -> None:
    for key, kind in (("person_id", "persons"), ("deal_id", "deals"), ("org_id", "organizations")):
        value = body.get(key)
        if value not in (None, ""):
            rec[key] = sb.require(kind, value, key)["id"]
        else:
            rec.setdefault(key, None)


def _list(sb: Sandbox, kind: str, request: Request) -> Response:
    # GET /v1/files declares no filters (Pipedrive ignores them); notes filter by their links
    declared = () if kind == "files" else ("person_id", "deal_id", "org_id")
    filters = {k: as_int(request.query_params[k], k) for k in declared if k in request.query_params}
    if "id" in request.path_params:  # GET /v1/persons/{id}/files
        filters = {"person_id": as_int(request.path_params["id"], "id")}
    rows = [r for r in sb.store.all(kind) if all(r.get(k) == v for k, v in filters.items())]
    return _paged(rows, request)


def _paged(rows: list[dict[str, Any]], request: Request) -> Response:
    """One page of a v1 list (start/limit), with its pagination in additional_data."""
    start = as_int(request.query_params.get("start", "0"), "start")
    limit = as_int(request.query_params.get("limit", "100"), "limit")
    if start < 0 or limit < 1:
        raise ApiError(400, "start must be 0 or more and limit 1 or more")
    page = rows[start : start + limit]
    more = start + limit < len(rows)
    pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return ok(page, {"pagination": pagination})


async def notes(sb: Sandbox, request: Request) -> Response:
    if request.method == "POST":
        body = await json_body(request)
        if not isinstance(body.get("content"), str) or not body["content"].strip():
            raise ApiError(400, "Content must be given.")
        rec: dict[str, Any] = {"content": body["content"], "active_flag": True}
        _links(sb, body, rec)
        if not (rec["person_id"] or rec["deal_id"] or rec["org_id"]):
            raise ApiError(400, "A note must be attached to a person, deal or organization.")
        now = now_iso()
        rec["add_time"] = (
            as_timestamp(body["add_time"], "add_time").replace("T", " ").rstrip("Z")
            if body.get("add_time")
            else now.replace("T", " ").rstrip("Z")
        )
        rec["update_time"] = now.replace("T", " ").rstrip("Z")
        owner = body.get("user_id")
        rec["user_id"] = sb.require("users", owner, "user_id")["id"] if owner else 1
        for flag in ("pinned_to_person_flag", "pinned_to_deal_flag", "pinned_to_organization_flag"):
            rec[flag] = bool(body.get(flag))
        return ok(sb.store.insert("notes", rec))  # the spec documents 200 for a created note
    return _list(sb, "notes", request)


async def note_one(sb: Sandbox, request: Request) -> Response:
    record_id = as_int(request.path_params["id"], "id")
    rec = sb.store.get("notes", record_id)
    if rec is None:
        raise ApiError(404, "Note not found")
    if request.method == "GET":
        return ok(rec)
    if request.method == "DELETE":
        sb.store.delete("notes", record_id)
        return ok(True)
    body = await json_body(request)
    if "content" in body:
        if not isinstance(body["content"], str) or not body["content"].strip():
            raise ApiError(400, "Content must be given.")
        rec["content"] = body["content"]
    _links(sb, {k: v for k, v in body.items() if k != "content"}, rec)
    rec["update_time"] = now_iso().replace("T", " ").rstrip("Z")
    return ok(sb.store.put("notes", rec))


async def files(sb: Sandbox, request: Request) -> Response:
    if request.method == "POST":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "file is required (multipart/form-data)")
        content = await upload.read()
        body = {k: v for k, v in form.items() if isinstance(v, str)}
        rec: dict[str, Any] = {
            "name": upload.filename,
            "file_name": upload.filename,
            "file_size": len(content),
            "file_type": (upload.filename or "").rsplit(".", 1)[-1].lower(),
            "sha256": hashlib.sha256(content).hexdigest(),
            "active_flag": True,
            "add_time": now_iso().replace("T", " ").rstrip("Z"),
        }
        _links(sb, body, rec)
        if not (rec["person_id"] or rec["deal_id"] or rec["org_id"]):
            raise ApiError(400, "A file must be attached to a person, deal or organization.")
        with sb.store.transaction():
            rec = sb.store.insert("files", rec)
            blob = {"id": rec["id"], "base64": base64.b64encode(content).decode("ascii")}
            sb.store.insert(FILE_CONTENT, {**blob, "content_type": upload.content_type})
        return ok(rec)  # the spec documents 200 for an upload
    return _list(sb, "files", request)


async def person_files(sb: Sandbox, request: Request) -> Response:
    if sb.store.get("persons", as_int(request.path_params["id"], "id")) is None:
        raise ApiError(404, "Person not found")
    return _list(sb, "files", request)


async def file_one(sb: Sandbox, request: Request) -> Response:
    record_id = as_int(request.path_params["id"], "id")
    rec = sb.store.get("files", record_id)
    if rec is None:
        raise ApiError(404, "File not found")
    if request.method == "DELETE":
        with sb.store.transaction():
            sb.store.delete("files", record_id)
            sb.store.delete(FILE_CONTENT, record_id)
        return ok({"id": record_id})
    if request.method == "PUT":  # the spec's body is a form (name); the client adds description
        form = await request.form()
        for key in ("name", "description"):
            value = form.get(key)
            if isinstance(value, str):
                if key == "name" and not value.strip():
                    raise ApiError(400, "name must not be empty")
                rec[key] = value
        rec["update_time"] = now_iso().replace("T", " ").rstrip("Z")
        return ok(sb.store.put("files", rec))
    return ok(rec)


async def file_download(sb: Sandbox, request: Request) -> Response:
    record_id = as_int(request.path_params["id"], "id")
    rec = sb.store.get("files", record_id)
    blob = sb.store.get(FILE_CONTENT, record_id)
    if rec is None or blob is None:
        raise ApiError(404, "File not found")
    name = quote(str(rec.get("file_name") or f"file-{record_id}"))
    return Response(
        base64.b64decode(blob["base64"]),
        media_type="application/octet-stream",
        headers={"content-disposition": f"attachment; filename*=UTF-8''{name}"},
    )


def _v1_field(kind: str, f: dict[str, Any], order_nr: int) -> dict[str, Any]:
    """A field as the v1 field lists show it (the spec's GetField)."""
    custom = f.get("is_custom_field", True)
    settings = field_settings(kind, f)
    ui = settings["ui_visibility"]
    return {
        "id": f.get("id") if custom else None,
        "key": f["field_code"],
        "name": f["field_name"],
        "order_nr": order_nr,
        "field_type": f["field_type"],
        "active_flag": True,
        "edit_flag": custom,
        "index_visible_flag": True,
        "details_visible_flag": ui.get("details_visible_flag", True),
        "add_visible_flag": ui.get("add_visible_flag", False),
        "important_flag": settings["important_fields"].get("enabled", False),
        "bulk_edit_allowed": True,
        "searchable_flag": custom and f["field_type"] in SEARCHABLE_TYPES,
        "filtering_allowed": True,
        "sortable_flag": True,
        "mandatory_flag": settings["required_fields"].get("enabled", False)
        or f["field_code"] in {"name", "title"},
        "options": [{"id": o["id"], "label": o["label"]} for o in f.get("options") or []] or None,
    }


def field_list(kind: str) -> Handler:
    """GET /v1/personFields, organizationFields, dealFields, activityFields: the standard
    fields, then the custom ones (the same fields v2 lists), paged by start/limit."""

    async def handler(sb: Sandbox, request: Request) -> Response:
        standard = [
            {"field_name": n, "field_code": c, "field_type": t, "is_custom_field": False}
            for n, c, t in STANDARD_FIELDS[kind]
        ]
        rows = [_v1_field(kind, f, i) for i, f in enumerate(standard + sb.store.all(kind), 1)]
        return _paged(rows, request)

    return handler
