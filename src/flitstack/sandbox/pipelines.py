"""Routes for pipelines and their stages (v2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from flitstack.sandbox.account import Sandbox
from flitstack.sandbox.endpoints import Handler, page
from flitstack.sandbox.envelope import ApiError, ok
from flitstack.sandbox.store import now_iso
from flitstack.sandbox.validation import as_int, json_body


async def pipelines(sb: Sandbox, request: Request) -> Response:
    if request.method == "POST":
        body = await json_body(request)
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise ApiError(400, "Name must be given.")
        now = now_iso()
        rec = {"name": body["name"], "is_deleted": False, "add_time": now, "update_time": now}
        rec["order_nr"] = len(sb.store.all("pipelines")) + 1
        rec["is_deal_probability_enabled"] = False
        _pipeline_changes(body, rec)
        return ok(sb.store.insert("pipelines", rec))
    return page(sb, "pipelines", request, lambda r: True)


async def stages(sb: Sandbox, request: Request) -> Response:
    if request.method == "POST":
        body = await json_body(request)
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise ApiError(400, "Name must be given.")
        pipeline = sb.require("pipelines", body.get("pipeline_id"), "pipeline_id")
        now = now_iso()
        siblings = [s for s in sb.store.all("stages") if s["pipeline_id"] == pipeline["id"]]
        rec = {
            "name": body["name"],
            "pipeline_id": pipeline["id"],
            "order_nr": len(siblings) + 1,
            "deal_probability": 100,
            "is_deal_rot_enabled": False,
            "days_to_rotten": None,
            "is_deleted": False,
            "add_time": now,
            "update_time": now,
        }
        _stage_changes(sb, body, rec)
        return ok(sb.store.insert("stages", rec))
    raw = request.query_params.get("pipeline_id")
    pid = None if raw is None else as_int(raw, "pipeline_id")
    return page(sb, "stages", request, lambda r: pid is None or r["pipeline_id"] == pid)


def one_of(kind: str, label: str) -> Handler:
    async def handler(sb: Sandbox, request: Request) -> Response:
        record_id = as_int(request.path_params["id"], "id")
        rec = sb.store.get(kind, record_id)
        if rec is None:
            raise ApiError(404, f"{label} not found")
        if request.method == "DELETE":
            if kind == "pipelines":
                for stage in sb.store.all("stages"):
                    if stage["pipeline_id"] == record_id:
                        sb.store.delete("stages", stage["id"])
            sb.store.delete(kind, record_id)
            return ok({"id": record_id})
        if request.method == "PATCH":
            body = await json_body(request)
            with sb.store.transaction():
                if kind == "pipelines":
                    _pipeline_changes(body, rec)
                else:
                    _stage_changes(sb, body, rec)
                rec["update_time"] = now_iso()
                return ok(sb.store.put(kind, rec))
        return ok(rec)

    return handler


def _name(body: dict[str, Any], rec: dict[str, Any]) -> None:
    if "name" in body:
        if not isinstance(body["name"], str) or not body["name"].strip():
            raise ApiError(400, "Name must be given.")
        rec["name"] = body["name"]


def _flag(body: dict[str, Any], rec: dict[str, Any], key: str) -> None:
    if key in body:
        if not isinstance(body[key], bool):
            raise ApiError(400, f"{key} must be a boolean")
        rec[key] = body[key]


def _pipeline_changes(body: dict[str, Any], rec: dict[str, Any]) -> None:
    """PATCH /v2/pipelines/{id} (and the create's optional values): name, probability flag."""
    _name(body, rec)
    _flag(body, rec, "is_deal_probability_enabled")


def _stage_changes(sb: Sandbox, body: dict[str, Any], rec: dict[str, Any]) -> None:
    """PATCH /v2/stages/{id} (and the create's optional values). A stage moved to another
    pipeline takes its deals along, as in Pipedrive."""
    _name(body, rec)
    _flag(body, rec, "is_deal_rot_enabled")
    if "deal_probability" in body:
        value = body["deal_probability"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise ApiError(400, "deal_probability must be an integer from 0 to 100")
        rec["deal_probability"] = value
    if "days_to_rotten" in body:
        value = body["days_to_rotten"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ApiError(400, "days_to_rotten must be an integer")
        rec["days_to_rotten"] = value
    moved = body.get("pipeline_id")
    if "id" in rec and moved is not None and as_int(moved, "pipeline_id") != rec["pipeline_id"]:
        target = sb.require("pipelines", moved, "pipeline_id")["id"]
        siblings = [s for s in sb.store.all("stages") if s["pipeline_id"] == target]
        rec["pipeline_id"], rec["order_nr"] = target, len(siblings) + 1
        for deal in sb.store.all("deals"):
            if deal.get("stage_id") == rec["id"]:
                sb.store.put("deals", {**deal, "pipeline_id": target})
