"""Routes for persons, organizations, deals and activities, their search, and their fields."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flitstack.sandbox.account import Sandbox
from flitstack.sandbox.endpoints import page, value_filters, wrap
from flitstack.sandbox.envelope import ApiError, ok
from flitstack.sandbox.schema import CUSTOM_TYPES, FIELD_KIND, STANDARD_FIELDS
from flitstack.sandbox.validation import as_int, json_body, offset_cursor, page_limit


def entity_routes(kind: str) -> list[Route]:
    async def collection(sb: Sandbox, request: Request) -> Response:
        if request.method == "POST":
            return ok(sb.create(kind, await json_body(request)))
        filters = {
            k: as_int(request.query_params[k], k)
            for k in ("owner_id", "person_id", "org_id", "deal_id", "pipeline_id", "stage_id")
            if k in request.query_params
        }
        filters.update(value_filters(kind, request))  # done (activities), status (deals)
        ids = request.query_params.get("ids")
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses
        digits = [i for i in (ids or "").split(",") if re.fullmatch(r"\s*[0-9]+\s*", i)]
        wanted = {int(i) for i in digits} if ids else None

        def keep(rec: dict[str, Any]) -> bool:
            if wanted is not None and rec["id"] not in wanted:
                return False
            return all(rec.get(k) == v for k, v in filters.items())

        return page(sb, kind, request, keep)

    async def one(sb: Sandbox, request: Request) -> Response:
        record_id = as_int(request.path_params["id"], "id")
        rec = sb.store.get(kind, record_id)
        if rec is None:
            raise ApiError(404, f"{kind[:-1].title()} not found")
        if request.method == "GET":
            return ok(rec)
        if request.method == "DELETE":
            sb.store.delete(kind, record_id)
            return ok({"id": record_id})
        with sb.store.transaction():
            return ok(sb.store.put(kind, sb.build(kind, await json_body(request), rec)))

    async def search(sb: Sandbox, request: Request) -> Response:
        term = request.query_params.get("term")
        if term is None:
            raise ApiError(400, "term is required")
        fields = {f for f in request.query_params.get("fields", "").split(",") if f}
        exact = request.query_params.get("exact_match", "false").lower() in {"true", "1"}
        items = sb.search(kind, term, fields, exact, request.query_params)
        limit, after = page_limit(request), offset_cursor(request)
        found = items[after : after + limit]
        nxt = str(after + limit) if after + limit < len(items) else None
        return ok({"items": found}, {"next_cursor": nxt})

    routes = [
        Route(f"/api/v2/{kind}", wrap(collection), methods=["GET", "POST"]),
        Route(f"/api/v2/{kind}/{{id}}", wrap(one), methods=["GET", "PATCH", "DELETE"]),
    ]
    if kind in {"persons", "organizations", "deals"}:
        routes.insert(0, Route(f"/api/v2/{kind}/search", wrap(search), methods=["GET"]))
    return routes


def _field_view(kind: str, f: dict[str, Any]) -> dict[str, Any]:
    return {
        "field_name": f["field_name"],
        "field_code": f["field_code"],
        "field_type": f["field_type"],
        "description": f.get("description"),
        "options": f.get("options"),
        "subfields": None,
        "is_custom_field": f.get("is_custom_field", True),
        "is_optional_response_field": False,
    }


def _purge_values(sb: Sandbox, field_kind: str, code: str) -> None:
    """A deleted custom field takes its values with it, on every record, as in Pipedrive."""
    records = next(k for k, v in FIELD_KIND.items() if v == field_kind)
    for rec in sb.store.all(records):
        custom = rec.get("custom_fields") or {}
        if code in custom:
            del custom[code]
            sb.store.put(records, rec)


def field_routes(kind: str) -> list[Route]:
    async def collection(sb: Sandbox, request: Request) -> Response:
        if request.method == "POST":
            body = await json_body(request)
            name, ftype = body.get("field_name"), body.get("field_type")
            if not isinstance(name, str) or not name.strip() or len(name) > 255:
                raise ApiError(400, "field_name must be 1-255 characters")
            if not isinstance(ftype, str) or ftype not in CUSTOM_TYPES:
                raise ApiError(400, f"field_type {ftype!r} is not a custom field type")
            options = None
            if ftype in {"enum", "set"}:
                raw = body.get("options")
                if not isinstance(raw, list) or not raw:
                    raise ApiError(400, "options are required for enum and set fields")
                labels = [o.get("label") if isinstance(o, dict) else None for o in raw]
                if not all(isinstance(label, str) and label for label in labels):
                    raise ApiError(400, "every option needs a label")
                options = [{"id": sb.store.next_id("option"), "label": lb} for lb in labels]
            with sb.store.transaction():
                rec = sb.store.insert(
                    kind,
                    {
                        "id": sb.store.next_id(kind),
                        "field_name": name,
                        "field_code": sb.field_code(kind, name),
                        "field_type": ftype,
                        "options": options,
                        "is_custom_field": True,
                    },
                )
            return ok(_field_view(kind, rec))
        standard = [
            {"field_name": n, "field_code": c, "field_type": t, "is_custom_field": False}
            for n, c, t in STANDARD_FIELDS[kind]
        ]
        custom = sb.store.all(kind)
        rows = [_field_view(kind, f) for f in standard + custom]
        limit = page_limit(request)
        after = offset_cursor(request)
        nxt = str(after + limit) if after + limit < len(rows) else None
        return ok(rows[after : after + limit], {"next_cursor": nxt})

    async def one(sb: Sandbox, request: Request) -> Response:
        code = request.path_params["code"]
        for f in sb.store.all(kind):
            if f["field_code"] == code:
                if request.method == "DELETE":
                    with sb.store.transaction():
                        sb.store.delete(kind, f["id"])
                        _purge_values(sb, kind, code)
                    return ok(_field_view(kind, f))  # the spec returns the deleted field
                return ok(_field_view(kind, f))
        for n, c, t in STANDARD_FIELDS[kind]:  # system fields are read by their code too
            if c == code and request.method == "GET":
                standard = {"field_name": n, "field_code": c, "field_type": t}
                return ok(_field_view(kind, {**standard, "is_custom_field": False}))
        raise ApiError(404, "Field not found")

    return [
        Route(f"/api/v2/{kind}", wrap(collection), methods=["GET", "POST"]),
        Route(f"/api/v2/{kind}/{{code}}", wrap(one), methods=["GET", "DELETE"]),
    ]
