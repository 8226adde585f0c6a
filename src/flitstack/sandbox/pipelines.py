"""Routes for pipelines and their stages (v2)."""

from __future__ import annotations

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
            "deal_probability": body.get("deal_probability", 100),
            "is_deleted": False,
            "add_time": now,
            "update_time": now,
        }
        return ok(sb.store.insert("stages", rec))
    pid = request.query_params.get("pipeline_id")
    return page(sb, "stages", request, lambda r: pid is None or r["pipeline_id"] == int(pid))


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
        return ok(rec)

    return handler
