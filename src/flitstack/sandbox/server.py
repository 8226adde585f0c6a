"""A Pipedrive sandbox: a real HTTP server with Pipedrive's paths, envelopes, limits and faults.

What it copies from Pipedrive because a migration depends on it: custom fields keyed by random
40-character hashes (different per account), values checked against field types, cursor
pagination, search by custom field, auth by ``api_token`` or ``x-api-token``, token costs drawn
from a daily budget, a per-token burst limit in 2-second windows (search lower) with the
rate-limit headers and 429 + Retry-After, and injectable latency, 5xx, resets and lost responses.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import random
import re
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from flitstack.pipedrive.costs import token_cost
from flitstack.pipedrive.plans import PLAN_BURST, PLAN_MULTIPLIER, WINDOW_SECONDS
from flitstack.sandbox.store import Store, now_iso

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


@dataclass
class SandboxConfig:
    """How the sandbox account behaves. Defaults: a clean, fast, generous account."""

    plan: str = "professional"
    seats: int = 5
    daily_budget: int | None = None  # None: 30,000 × plan multiplier × seats
    burst_limit: int | None = None  # None: the plan's documented api_token limit per 2 s
    search_burst_limit: int = 10
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    fault_5xx_rate: float = 0.0
    fault_reset_rate: float = 0.0
    fault_lost_response_rate: float = 0.0
    seed: int = 0
    db_path: str | None = None
    api_token: str | None = None
    company_domain: str = "sandbox"
    seed_users: list[dict[str, Any]] = field(
        default_factory=lambda: [{"name": "Sandbox Admin", "email": "admin@sandbox.example"}]
    )
    seed_persons: list[dict[str, Any]] = field(default_factory=list)
    seed_organizations: list[dict[str, Any]] = field(default_factory=list)

    def budget(self) -> int:
        if self.daily_budget is not None:
            return self.daily_budget
        return int(30_000 * PLAN_MULTIPLIER.get(self.plan, 1.0) * self.seats)

    def burst(self) -> int:
        return self.burst_limit or PLAN_BURST.get(self.plan, 40)


class ApiError(Exception):
    """An error answered with Pipedrive's envelope."""

    def __init__(self, status: int, error: str, info: str = "") -> None:
        super().__init__(error)
        self.status, self.error, self.info = status, error, info


def _envelope_error(status: int, error: str, info: str = "") -> JSONResponse:
    body = {
        "success": False,
        "error": error,
        "error_info": info or "Please check developers.pipedrive.com for more information",
        "data": None,
        "additional_data": None,
    }
    if status == 401:
        body["errorCode"] = 401
    return JSONResponse(body, status_code=status)


def _ok(data: Any, additional: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    body: dict[str, Any] = {"success": True, "data": data}
    if additional is not None:
        body["additional_data"] = additional
    return JSONResponse(body, status_code=status)


def _timestamp(value: Any, name: str) -> str:
    """Accept ISO 8601 or Pipedrive's ``YYYY-MM-DD HH:MM:SS`` (UTC); store ISO with Z."""
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string date-time")
    text = value.strip().replace(" ", "T").replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ApiError(400, f"Invalid {name}: {value!r}") from exc
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(value: Any, name: str) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise ApiError(400, f"Invalid date in {name}: {value!r}") from exc


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(400, f"{name} must be an integer")
    try:
        return int(value)
    except ValueError as exc:
        raise ApiError(400, f"{name} must be an integer") from exc


def _cursor(after_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": after_id}).encode()).decode()


def _after(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["id"])
    except Exception as exc:
        raise ApiError(400, "Invalid cursor") from exc


class Sandbox:
    """The account: state, limits, faults; the Starlette app's handlers are its methods."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = Store(config.db_path)
        self.token = config.api_token or self.store.meta("api_token") or secrets.token_hex(20)
        self.store.set_meta("api_token", self.token)
        self.rng = random.Random(config.seed)
        self._salt = self.store.meta("salt") or secrets.token_hex(8)
        self.store.set_meta("salt", self._salt)
        self._windows: dict[str, deque[float]] = {}
        self._limit_lock = threading.Lock()
        self.tokens_used = 0
        self.day_started = time.time()
        self.counters: Counter[str] = Counter()
        if self.store.meta("seeded") is None:
            self._seed()
            self.store.set_meta("seeded", "1")

    # --- seeding ---------------------------------------------------------------------------
    def _seed(self) -> None:
        for i, user in enumerate(self.config.seed_users):
            self.store.insert(
                "users",
                {
                    "name": user["name"],
                    "email": user["email"],
                    "active_flag": True,
                    "is_admin": i == 0,
                    "created": now_iso(),
                },
            )
        for i, (label, key) in enumerate(ACTIVITY_TYPES, 1):
            self.store.insert(
                "activityTypes",
                {"name": label, "key_string": key, "order_nr": i, "active_flag": True},
            )
        for org in self.config.seed_organizations:
            self.create("organizations", dict(org))
        for person in self.config.seed_persons:
            self.create("persons", dict(person))

    # --- limits and faults -----------------------------------------------------------------
    def budget_left(self) -> int:
        return max(0, self.config.budget() - self.tokens_used)

    def reset_budget(self) -> None:
        with self._limit_lock:
            self.tokens_used = 0
            self.day_started = time.time()

    def admit(self, method: str, path: str, token: str) -> tuple[dict[str, str], Response | None]:
        """Charge the request or refuse it with 429; return the rate-limit headers."""
        is_search = path.endswith("/search") or "/find" in path
        limit = self.config.search_burst_limit if is_search else self.config.burst()
        key = f"{token}:{'search' if is_search else 'all'}"
        cost = token_cost(method, path)
        now = time.monotonic()
        with self._limit_lock:
            window = self._windows.setdefault(key, deque())
            while window and now - window[0] >= WINDOW_SECONDS:
                window.popleft()
            reset = WINDOW_SECONDS - (now - window[0]) if window else WINDOW_SECONDS
            headers = {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-reset": str(max(1, round(reset))),
            }
            if self.tokens_used + cost > self.config.budget():
                seconds = max(1, int(86_400 - (time.time() - self.day_started)))
                headers.update({"x-ratelimit-remaining": str(limit - len(window))})
                headers["retry-after"] = str(seconds)
                headers["x-daily-requests-left"] = "0"
                self.counters["429_budget"] += 1
                return headers, _envelope_error(
                    429, "Daily token budget exhausted", "The company's daily budget is spent."
                )
            if len(window) >= limit:
                headers["x-ratelimit-remaining"] = "0"
                headers["retry-after"] = str(max(1, int(reset + 0.999)))
                self.counters["429_burst"] += 1
                return headers, _envelope_error(429, "Request over limit")
            window.append(now)
            self.tokens_used += cost
            headers["x-ratelimit-remaining"] = str(limit - len(window))
            if method in {"POST", "PUT", "PATCH"}:
                headers["x-daily-requests-left"] = str(self.budget_left())
        return headers, None

    def set_faults(self, **rates: float) -> None:
        for name, value in rates.items():
            if not hasattr(self.config, name):
                raise AttributeError(f"no sandbox setting {name}")
            setattr(self.config, name, value)

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    # --- custom fields -----------------------------------------------------------------------
    def field_code(self, kind: str, name: str) -> str:
        digest = hashlib.sha1(f"{self._salt}:{kind}:{name}:{secrets.token_hex(4)}".encode())
        return digest.hexdigest()

    def custom_fields(self, kind: str) -> dict[str, dict[str, Any]]:
        return {f["field_code"]: f for f in self.store.all(FIELD_KIND[kind])}

    def check_custom(self, kind: str, values: Any) -> dict[str, Any]:
        if values is None:
            return {}
        if not isinstance(values, dict):
            raise ApiError(400, "custom_fields must be an object")
        fields = self.custom_fields(kind)
        out: dict[str, Any] = {}
        for key, value in values.items():
            f = fields.get(key)
            if f is None:
                raise ApiError(400, f"Unknown custom field key: {key}")
            out[key] = None if value is None else self._check_value(f, value)
        return out

    def _check_value(self, f: dict[str, Any], value: Any) -> Any:
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
            return _date(value, name)
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
            self.require(kind, _int(value, name), name)
            return int(value)
        if t == "address":
            if isinstance(value, str):
                return {"value": value}
            if isinstance(value, dict) and isinstance(value.get("value"), str):
                return value
            raise ApiError(400, f"Field {name!r} (address) takes {{value: ...}}")
        return value

    def require(self, kind: str, record_id: Any, name: str) -> dict[str, Any]:
        rec = self.store.get(kind, _int(record_id, name))
        if rec is None:
            raise ApiError(400, f"{name} {record_id} does not exist")
        return rec

    # --- entity rules ----------------------------------------------------------------------------
    def _contacts(self, items: Any, name: str) -> list[dict[str, Any]]:
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

    def build(self, kind: str, body: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        """Validate a create (old is None) or patch body and return the new record."""
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        rec: dict[str, Any] = dict(old) if old else {}
        admin = self.store.all("users", limit=1)[0]["id"]
        for key, value in body.items():
            if key == "custom_fields":
                merged = dict(rec.get("custom_fields") or {})
                merged.update(self.check_custom(kind, value))
                rec["custom_fields"] = merged
            elif key in {"owner_id", "user_id"} and value is not None:
                rec[key] = self.require("users", value, key)["id"]
            elif key == "org_id" and value is not None:
                rec[key] = self.require("organizations", value, key)["id"]
            elif key == "person_id" and value is not None:
                rec[key] = self.require("persons", value, key)["id"]
            elif key == "deal_id" and value is not None:
                rec[key] = self.require("deals", value, key)["id"]
            elif key in {"emails", "phones"}:
                rec[key] = self._contacts(value, key)
            elif key in {"add_time", "won_time", "lost_time", "close_time"} and value:
                rec[key] = _timestamp(value, key)
            elif key in {"due_date", "expected_close_date"} and value:
                rec[key] = _date(value, key)
            elif key in {"visible_to"} and value is not None:
                if _int(value, key) not in {1, 3, 5, 7}:
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
        getattr(self, f"_check_{kind}")(rec, body)
        return rec

    def _check_persons(self, rec: dict[str, Any], body: dict[str, Any]) -> None:
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

    def _check_organizations(self, rec: dict[str, Any], body: dict[str, Any]) -> None:
        if not isinstance(rec.get("name"), str) or not rec["name"].strip():
            raise ApiError(400, "Name must be given.")
        address = rec.get("address")
        if address is not None and not (isinstance(address, dict) and "value" in address):
            raise ApiError(400, "address must be an object with a value")
        rec.setdefault("address", None)
        rec.setdefault("label_ids", [])

    def _check_deals(self, rec: dict[str, Any], body: dict[str, Any]) -> None:
        if not isinstance(rec.get("title"), str) or not rec["title"].strip():
            raise ApiError(400, "Title must be given.")
        if rec.get("stage_id") is not None:
            stage = self.require("stages", rec["stage_id"], "stage_id")
            if rec.get("pipeline_id") is not None and rec["pipeline_id"] != stage["pipeline_id"]:
                raise ApiError(400, "stage_id does not belong to pipeline_id")
            rec["pipeline_id"] = stage["pipeline_id"]
        elif rec.get("pipeline_id") is not None:
            self.require("pipelines", rec["pipeline_id"], "pipeline_id")
            stages = [s for s in self.store.all("stages") if s["pipeline_id"] == rec["pipeline_id"]]
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

    def _check_activities(self, rec: dict[str, Any], body: dict[str, Any]) -> None:
        types = {t["key_string"] for t in self.store.all("activityTypes")}
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

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.store.transaction():
            record = self.build(kind, body, None)
            return self.store.insert(kind, {"id": self.store.next_id(kind), **record})

    # --- search ------------------------------------------------------------------------------
    def search(self, kind: str, term: str, fields: set[str], exact: bool) -> list[dict[str, Any]]:
        needle = term.casefold().strip()
        if len(needle) < (1 if exact else 2):
            raise ApiError(400, "Search term must be at least 2 characters (1 with exact_match)")

        def hit(text: Any) -> float:
            if not isinstance(text, str) or not text:
                return 0.0
            value = text.casefold()
            if exact:
                return 1.0 if value == needle else 0.0
            return 1.0 if value == needle else (0.5 if needle in value else 0.0)

        custom_fields = self.custom_fields(kind)
        searchable = {
            k for k, f in custom_fields.items()
            if f["field_type"] in {"varchar", "text", "varchar_auto", "double", "monetary",
                                   "phone", "address"}
        }  # fmt: skip
        results = []
        for rec in self.store.all(kind):
            score = 0.0
            name_key = "title" if kind == "deals" else "name"
            if not fields or "name" in fields or "title" in fields:
                score = max(score, hit(rec.get(name_key)))
            if kind == "persons" and (not fields or "email" in fields):
                score = max([score, *(hit(e["value"]) for e in rec.get("emails", []))])
            if kind == "persons" and (not fields or "phone" in fields):
                score = max([score, *(hit(p["value"]) for p in rec.get("phones", []))])
            if not fields or "custom_fields" in fields:
                for key, value in (rec.get("custom_fields") or {}).items():
                    if key in searchable:
                        text = value.get("value") if isinstance(value, dict) else value
                        score = max(score, hit(None if text is None else str(text)))
            if score > 0:
                results.append((score, rec))
        results.sort(key=lambda t: (-t[0], t[1]["id"]))
        return [self._search_item(kind, score, rec) for score, rec in results]

    def _search_item(self, kind: str, score: float, rec: dict[str, Any]) -> dict[str, Any]:
        custom = [
            str(v.get("value") if isinstance(v, dict) else v)
            for v in (rec.get("custom_fields") or {}).values()
            if v is not None
        ]
        item: dict[str, Any] = {
            "id": rec["id"],
            "type": kind[:-1] if kind != "activities" else "activity",
            "visible_to": rec.get("visible_to"),
            "owner": {"id": rec.get("owner_id")},
            "custom_fields": custom,
        }
        if kind == "deals":
            value = rec.get("value")
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # the spec's search item value is an integer (JS prints 801)
            item.update(title=rec["title"], value=value, currency=rec.get("currency"))
            item["status"] = rec.get("status")
        else:
            item["name"] = rec["name"]
        if kind == "persons":
            item["emails"] = [e["value"] for e in rec.get("emails", [])]
            item["phones"] = [p["value"] for p in rec.get("phones", [])]
            org = rec.get("org_id") and self.store.get("organizations", rec["org_id"])
            item["organization"] = {"id": org["id"], "name": org["name"]} if org else None
        return {"result_score": score, "item": item}


# --- HTTP layer --------------------------------------------------------------------------------

Handler = Callable[[Sandbox, Request], Awaitable[Response]]


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except Exception as exc:
        raise ApiError(400, "Request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    limit = _int(raw, "limit")
    if not 1 <= limit <= 500:
        raise ApiError(400, "limit must be between 1 and 500")
    return limit


def _page(
    sb: Sandbox, kind: str, request: Request, keep: Callable[[dict[str, Any]], bool]
) -> Response:
    limit = _limit(request)
    after = _after(request.query_params.get("cursor"))
    rows: list[dict[str, Any]] = []
    last = after
    for rec in sb.store.all(kind, after_id=after):
        last = rec["id"]
        if keep(rec):
            rows.append(rec)
            if len(rows) == limit:
                break
    more = len(rows) == limit and any(keep(r) for r in sb.store.all(kind, after_id=last, limit=1))
    return _ok(rows, {"next_cursor": _cursor(last) if more else None})


def _entity_routes(kind: str) -> list[Route]:
    async def collection(sb: Sandbox, request: Request) -> Response:
        if request.method == "POST":
            return _ok(sb.create(kind, await _json(request)))
        filters = {
            k: _int(request.query_params[k], k)
            for k in ("owner_id", "person_id", "org_id", "deal_id", "pipeline_id", "stage_id")
            if k in request.query_params
        }
        ids = request.query_params.get("ids")
        wanted = {int(i) for i in ids.split(",") if i.strip().isdigit()} if ids else None

        def keep(rec: dict[str, Any]) -> bool:
            if wanted is not None and rec["id"] not in wanted:
                return False
            return all(rec.get(k) == v for k, v in filters.items())

        return _page(sb, kind, request, keep)

    async def one(sb: Sandbox, request: Request) -> Response:
        record_id = _int(request.path_params["id"], "id")
        rec = sb.store.get(kind, record_id)
        if rec is None:
            raise ApiError(404, f"{kind[:-1].title()} not found")
        if request.method == "GET":
            return _ok(rec)
        if request.method == "DELETE":
            sb.store.delete(kind, record_id)
            return _ok({"id": record_id})
        with sb.store.transaction():
            return _ok(sb.store.put(kind, sb.build(kind, await _json(request), rec)))

    async def search(sb: Sandbox, request: Request) -> Response:
        term = request.query_params.get("term")
        if term is None:
            raise ApiError(400, "term is required")
        fields = {f for f in request.query_params.get("fields", "").split(",") if f}
        exact = request.query_params.get("exact_match", "false").lower() in {"true", "1"}
        items = sb.search(kind, term, fields, exact)
        limit, after = _limit(request), int(request.query_params.get("cursor") or 0)
        page = items[after : after + limit]
        nxt = str(after + limit) if after + limit < len(items) else None
        return _ok({"items": page}, {"next_cursor": nxt})

    routes = [
        Route(f"/api/v2/{kind}", _wrap(collection), methods=["GET", "POST"]),
        Route(f"/api/v2/{kind}/{{id}}", _wrap(one), methods=["GET", "PATCH", "DELETE"]),
    ]
    if kind in {"persons", "organizations", "deals"}:
        routes.insert(0, Route(f"/api/v2/{kind}/search", _wrap(search), methods=["GET"]))
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


def _field_routes(kind: str) -> list[Route]:
    async def collection(sb: Sandbox, request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            name, ftype = body.get("field_name"), body.get("field_type")
            if not isinstance(name, str) or not name.strip() or len(name) > 255:
                raise ApiError(400, "field_name must be 1-255 characters")
            if ftype not in CUSTOM_TYPES:
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
            return _ok(_field_view(kind, rec))
        standard = [
            {"field_name": n, "field_code": c, "field_type": t, "is_custom_field": False}
            for n, c, t in STANDARD_FIELDS[kind]
        ]
        custom = sb.store.all(kind)
        rows = [_field_view(kind, f) for f in standard + custom]
        limit = _limit(request)
        after = int(request.query_params.get("cursor") or 0)
        nxt = str(after + limit) if after + limit < len(rows) else None
        return _ok(rows[after : after + limit], {"next_cursor": nxt})

    async def one(sb: Sandbox, request: Request) -> Response:
        code = request.path_params["code"]
        for f in sb.store.all(kind):
            if f["field_code"] == code:
                if request.method == "DELETE":
                    with sb.store.transaction():
                        sb.store.delete(kind, f["id"])
                        _purge_values(sb, kind, code)
                    return _ok(_field_view(kind, f))  # the spec returns the deleted field
                return _ok(_field_view(kind, f))
        raise ApiError(404, "Field not found")

    return [
        Route(f"/api/v2/{kind}", _wrap(collection), methods=["GET", "POST"]),
        Route(f"/api/v2/{kind}/{{code}}", _wrap(one), methods=["GET", "DELETE"]),
    ]


async def _pipelines(sb: Sandbox, request: Request) -> Response:
    if request.method == "POST":
        body = await _json(request)
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise ApiError(400, "Name must be given.")
        now = now_iso()
        rec = {"name": body["name"], "is_deleted": False, "add_time": now, "update_time": now}
        rec["order_nr"] = len(sb.store.all("pipelines")) + 1
        return _ok(sb.store.insert("pipelines", rec))
    return _page(sb, "pipelines", request, lambda r: True)


async def _stages(sb: Sandbox, request: Request) -> Response:
    if request.method == "POST":
        body = await _json(request)
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
        return _ok(sb.store.insert("stages", rec))
    pid = request.query_params.get("pipeline_id")
    return _page(sb, "stages", request, lambda r: pid is None or r["pipeline_id"] == int(pid))


def _one_of(kind: str, label: str) -> Handler:
    async def handler(sb: Sandbox, request: Request) -> Response:
        record_id = _int(request.path_params["id"], "id")
        rec = sb.store.get(kind, record_id)
        if rec is None:
            raise ApiError(404, f"{label} not found")
        if request.method == "DELETE":
            if kind == "pipelines":
                for stage in sb.store.all("stages"):
                    if stage["pipeline_id"] == record_id:
                        sb.store.delete("stages", stage["id"])
            sb.store.delete(kind, record_id)
            return _ok({"id": record_id})
        return _ok(rec)

    return handler


async def _users(sb: Sandbox, request: Request) -> Response:
    return _ok(sb.store.all("users"))


async def _users_me(sb: Sandbox, request: Request) -> Response:
    me = sb.store.all("users", limit=1)[0]
    return _ok({**me, "company_domain": sb.config.company_domain})


async def _users_find(sb: Sandbox, request: Request) -> Response:
    term = (request.query_params.get("term") or "").casefold().strip()
    if not term:
        raise ApiError(400, "term is required")
    by_email = request.query_params.get("search_by_email") in {"1", "true"}
    key = "email" if by_email else "name"
    found = [u for u in sb.store.all("users") if term in str(u.get(key, "")).casefold()]
    return _ok(found)  # the spec's data is an array, empty when nobody matches


async def _activity_types(sb: Sandbox, request: Request) -> Response:
    return _ok(sb.store.all("activityTypes"))


def _v1_links(sb: Sandbox, body: dict[str, Any], rec: dict[str, Any]) -> None:
    for key, kind in (("person_id", "persons"), ("deal_id", "deals"), ("org_id", "organizations")):
        value = body.get(key)
        if value not in (None, ""):
            rec[key] = sb.require(kind, value, key)["id"]
        else:
            rec.setdefault(key, None)


async def _notes(sb: Sandbox, request: Request) -> Response:
    if request.method == "POST":
        body = await _json(request)
        if not isinstance(body.get("content"), str) or not body["content"].strip():
            raise ApiError(400, "Content must be given.")
        rec: dict[str, Any] = {"content": body["content"], "active_flag": True}
        _v1_links(sb, body, rec)
        if not (rec["person_id"] or rec["deal_id"] or rec["org_id"]):
            raise ApiError(400, "A note must be attached to a person, deal or organization.")
        now = now_iso()
        rec["add_time"] = (
            _timestamp(body["add_time"], "add_time").replace("T", " ").rstrip("Z")
            if body.get("add_time")
            else now.replace("T", " ").rstrip("Z")
        )
        rec["update_time"] = now.replace("T", " ").rstrip("Z")
        owner = body.get("user_id")
        rec["user_id"] = sb.require("users", owner, "user_id")["id"] if owner else 1
        for flag in ("pinned_to_person_flag", "pinned_to_deal_flag", "pinned_to_organization_flag"):
            rec[flag] = bool(body.get(flag))
        return _ok(sb.store.insert("notes", rec))  # the spec documents 200 for a created note
    return _v1_list(sb, "notes", request)


def _v1_list(sb: Sandbox, kind: str, request: Request) -> Response:
    start = _int(request.query_params.get("start", "0"), "start")
    limit = _int(request.query_params.get("limit", "100"), "limit")
    # GET /v1/files declares no filters (Pipedrive ignores them); notes filter by their links
    declared = () if kind == "files" else ("person_id", "deal_id", "org_id")
    filters = {k: _int(request.query_params[k], k) for k in declared if k in request.query_params}
    if "id" in request.path_params:  # GET /v1/persons/{id}/files
        filters = {"person_id": _int(request.path_params["id"], "id")}
    rows = [r for r in sb.store.all(kind) if all(r.get(k) == v for k, v in filters.items())]
    page = rows[start : start + limit]
    more = start + limit < len(rows)
    pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return _ok(page, {"pagination": pagination})


async def _note_one(sb: Sandbox, request: Request) -> Response:
    record_id = _int(request.path_params["id"], "id")
    rec = sb.store.get("notes", record_id)
    if rec is None:
        raise ApiError(404, "Note not found")
    if request.method == "GET":
        return _ok(rec)
    if request.method == "DELETE":
        sb.store.delete("notes", record_id)
        return _ok(True)
    body = await _json(request)
    if "content" in body:
        if not isinstance(body["content"], str) or not body["content"].strip():
            raise ApiError(400, "Content must be given.")
        rec["content"] = body["content"]
    _v1_links(sb, {k: v for k, v in body.items() if k != "content"}, rec)
    rec["update_time"] = now_iso().replace("T", " ").rstrip("Z")
    return _ok(sb.store.put("notes", rec))


async def _files(sb: Sandbox, request: Request) -> Response:
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
        _v1_links(sb, body, rec)
        if not (rec["person_id"] or rec["deal_id"] or rec["org_id"]):
            raise ApiError(400, "A file must be attached to a person, deal or organization.")
        return _ok(sb.store.insert("files", rec))  # the spec documents 200 for an upload
    return _v1_list(sb, "files", request)


async def _person_files(sb: Sandbox, request: Request) -> Response:
    if sb.store.get("persons", _int(request.path_params["id"], "id")) is None:
        raise ApiError(404, "Person not found")
    return _v1_list(sb, "files", request)


async def _file_one(sb: Sandbox, request: Request) -> Response:
    record_id = _int(request.path_params["id"], "id")
    rec = sb.store.get("files", record_id)
    if rec is None:
        raise ApiError(404, "File not found")
    if request.method == "DELETE":
        sb.store.delete("files", record_id)
        return _ok({"id": record_id})
    return _ok(rec)


def _wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        sb: Sandbox = request.app.state.sandbox
        try:
            return await handler(sb, request)
        except ApiError as exc:
            return _envelope_error(exc.status, exc.error, exc.info)

    return endpoint


class _Gate:
    """ASGI middleware: auth, latency, rate limits and faults around every request."""

    def __init__(self, app: Any, sandbox: Sandbox) -> None:
        self.app, self.sb = app, sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sb, cfg = self.sb, self.sb.config
        request = Request(scope)
        method, path = scope["method"], scope["path"]
        sb.counters["requests"] += 1
        if cfg.latency_ms or cfg.latency_jitter_ms:
            delay = cfg.latency_ms + sb.rng.uniform(0, cfg.latency_jitter_ms)
            await asyncio.sleep(max(0.0, delay) / 1000)
        token = request.query_params.get("api_token") or request.headers.get("x-api-token")
        if token != sb.token:
            sb.counters["401"] += 1
            await _envelope_error(401, "unauthorized access")(scope, receive, send)
            return
        headers, refusal = sb.admit(method, path, token)
        if refusal is not None:
            refusal.headers.update(headers)
            await refusal(scope, receive, send)
            return
        if sb.roll(cfg.fault_reset_rate):
            sb.counters["resets"] += 1
            await _drop(send)
            return
        if sb.roll(cfg.fault_5xx_rate):
            sb.counters["5xx"] += 1
            response = _envelope_error(503, "Service temporarily unavailable")
            response.headers.update(headers)
            await response(scope, receive, send)
            return
        is_write = method in {"POST", "PUT", "PATCH", "DELETE"}
        lose = is_write and sb.roll(cfg.fault_lost_response_rate)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                sb.counters[str(message["status"])] += 1
                raw = list(message.get("headers", []))
                raw += [(k.encode(), v.encode()) for k, v in headers.items()]
                message = {**message, "headers": raw}
            await send(message)

        if lose:
            sb.counters["lost_responses"] += 1

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)  # the write is committed…
            await _drop(send)  # …and the answer never arrives
            return
        await self.app(scope, receive, send_with_headers)


async def _drop(send: Send) -> None:
    """End the exchange without a usable answer: a response cut short (connection closed)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"1000"), (b"content-type", b"application/json")],
        }
    )
    # The server refuses to finish a short body and closes the connection: exactly the effect.
    await send({"type": "http.response.body", "body": b'{"success": tr', "more_body": False})


class _QuietDrops(logging.Filter):
    """Keep uvicorn from logging the deliberate connection drops as application errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (exc is not None and "Too little data" in str(exc))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """The sandbox as an ASGI app (state in ``app.state.sandbox``)."""
    sandbox = Sandbox(config or SandboxConfig())
    routes: list[Route] = []
    for kind in ("persons", "organizations", "deals", "activities"):
        routes += _entity_routes(kind)
    for kind in ("personFields", "organizationFields", "dealFields", "activityFields"):
        routes += _field_routes(kind)
    routes += [
        Route("/api/v2/pipelines", _wrap(_pipelines), methods=["GET", "POST"]),
        Route("/api/v2/pipelines/{id}", _wrap(_one_of("pipelines", "Pipeline")),
              methods=["GET", "DELETE"]),
        Route("/api/v2/stages", _wrap(_stages), methods=["GET", "POST"]),
        Route("/api/v2/stages/{id}", _wrap(_one_of("stages", "Stage")), methods=["GET", "DELETE"]),
        Route("/api/v1/users", _wrap(_users), methods=["GET"]),
        Route("/api/v1/users/me", _wrap(_users_me), methods=["GET"]),
        Route("/api/v1/users/find", _wrap(_users_find), methods=["GET"]),
        Route("/api/v1/activityTypes", _wrap(_activity_types), methods=["GET"]),
        Route("/api/v1/notes", _wrap(_notes), methods=["GET", "POST"]),
        Route("/api/v1/notes/{id}", _wrap(_note_one), methods=["GET", "PUT", "DELETE"]),
        Route("/api/v1/files", _wrap(_files), methods=["GET", "POST"]),
        Route("/api/v1/persons/{id}/files", _wrap(_person_files), methods=["GET"]),
        Route("/api/v1/files/{id}", _wrap(_file_one), methods=["GET", "DELETE"]),
    ]  # fmt: skip

    async def not_found(request: Request, exc: Exception) -> Response:
        return _envelope_error(404, "Unknown method .")

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.sandbox = sandbox
    app.add_middleware(_Gate, sandbox=sandbox)
    return app


@dataclass
class SandboxHandle:
    """A running sandbox: where it is, its token, and its state."""

    base_url: str
    api_token: str
    sandbox: Sandbox
    server: uvicorn.Server

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        return self.sandbox.store.dump()

    def set_faults(self, **rates: float) -> None:
        self.sandbox.set_faults(**rates)

    def stats(self) -> dict[str, Any]:
        return {**self.sandbox.counters, "tokens_used": self.sandbox.tokens_used}

    def reset_budget(self) -> None:
        self.sandbox.reset_budget()


@contextmanager
def running_sandbox(config: SandboxConfig | None = None, port: int = 0) -> Iterator[SandboxHandle]:
    """Serve the sandbox on a loopback port in a background thread for the block's duration."""
    app = create_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    host, bound = sock.getsockname()[:2]
    sandbox: Sandbox = app.state.sandbox
    try:
        yield SandboxHandle(f"http://{host}:{bound}/api", sandbox.token, sandbox, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
