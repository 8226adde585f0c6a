"""Reading request parameters and bodies: typed values, JSON bodies, page limits, cursors.

Every refusal is an ``ApiError`` (400) with the message Pipedrive would give. A write's JSON
body is read and checked before its handler runs (``prepare_body``): strict JSON, strings that
are valid Unicode, and for the v2 operations in ``bodies.BODIES`` the spec's types, with the
properties the operation does not declare dropped.
"""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request

from flitstack.sandbox.bodies import BODIES, Body
from flitstack.sandbox.envelope import ApiError
from flitstack.sandbox.store import MAX_ID, storable_id

_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII digits only (int() takes any script's)
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # lone surrogates: never valid UTF-8


def as_timestamp(value: Any, name: str) -> str:
    """Accept ISO 8601 or Pipedrive's ``YYYY-MM-DD HH:MM:SS`` (UTC); store ISO with Z."""
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string date-time")
    text = value.strip().replace(" ", "T").replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is not None:
            dt = dt.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ApiError(400, f"Invalid {name}: {value!r}") from exc
    return dt.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"  # years < 1000 padded


def as_date(value: Any, name: str) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise ApiError(400, f"Invalid date in {name}: {value!r}") from exc


def as_int(value: Any, name: str) -> int:
    """An ID or count from a path, query or body: an integer within 64 bits, or a 400."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(400, f"{name} must be an integer")
    if isinstance(value, str):
        if not _INTEGER.fullmatch(value.strip()):
            raise ApiError(400, f"{name} must be an integer")
        value = int(value) if len(value) < 40 else MAX_ID + 1  # (int() refuses 4,300 digits)
    if not storable_id(value):
        raise ApiError(400, f"{name} is out of range (a 64-bit integer)")
    return value


def encode_cursor(after_id: int, key: Any = None) -> str:
    """An opaque cursor: the last record's ID, and its sort value when not sorted by ID."""
    data: dict[str, Any] = {"id": after_id} if key is None else {"id": after_id, "key": key}
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def cursor_data(cursor: str | None) -> dict[str, Any] | None:
    """What ``encode_cursor`` put in a cursor; anything else is a 400."""
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except Exception as exc:  # not base64, not JSON, not ASCII: all the same to a client
        raise ApiError(400, "Invalid cursor") from exc
    if not isinstance(data, dict) or not storable_id(data.get("id")):
        raise ApiError(400, "Invalid cursor")
    return data


def decode_cursor(cursor: str | None) -> int:
    data = cursor_data(cursor)
    return 0 if data is None else int(data["id"])


def offset_cursor(request: Request) -> int:
    """A cursor that is a position in a result list (search, field lists): digits, or a 400."""
    raw = request.query_params.get("cursor")
    if not raw:
        return 0
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise ApiError(400, "Invalid cursor")
    return int(raw)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _where(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def parse_json(raw: bytes) -> Any:
    """Strict JSON (no NaN or Infinity) whose strings are valid Unicode: a lone surrogate
    (``"\\ud800"``) could be stored but never answered, so it is refused, naming where."""
    try:
        body = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise ApiError(400, "Request body is not valid JSON") from exc
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str) and _SURROGATE.search(value):
            raise ApiError(400, f"{where or 'The body'} is not valid Unicode (a lone surrogate)")
        if isinstance(value, float) and not math.isfinite(value):
            raise ApiError(400, f"{where or 'The body'} is out of range")
        if isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    raise ApiError(400, "A property name is not valid Unicode (a lone surrogate)")
                stack.append((item, _where(where, key)))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))
    return body


_KIND_NAMES = {
    "string": "a string", "integer": "an integer", "number": "a number",
    "boolean": "a boolean", "object": "an object",
}  # fmt: skip


_PLAIN: dict[str, type] = {"string": str, "boolean": bool, "object": dict}


def conform(value: Any, schema: Any, where: str = "") -> Any:
    """``value`` as the spec declares it (see ``bodies``): undeclared properties dropped, a
    wrong type a 400 naming the property; null is let through (it clears a value)."""
    if value is None or schema == "any":
        return value
    if isinstance(schema, list):
        if not isinstance(value, list):
            raise ApiError(400, f"{where} must be an array")
        return [conform(item, schema[0], f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise ApiError(400, f"{where or 'Request body'} must be an object")
        others = "*" in schema
        return {
            key: conform(item, schema[key], _where(where, key)) if key in schema else item
            for key, item in value.items()
            if (key in schema and key != "*") or others
        }
    wrong = ApiError(400, f"{where} must be {_KIND_NAMES.get(schema, schema)}")
    if schema == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        if not storable_id(value):
            raise ApiError(400, f"{where} is out of range (a 64-bit integer)")
    elif schema == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
    elif schema in _PLAIN and not isinstance(value, _PLAIN[schema]):
        raise wrong
    return value


def _blank(path: str) -> str:
    return re.sub(r"\{[^}/]+\}", "{}", path)


_BODIES: dict[tuple[str, str], Body] = {(m, _blank(p)): s for (m, p), s in BODIES.items()}


def body_schema(method: str, route_path: str) -> Body | None:
    """The declared body of a v2 operation, by its route's path (``/api/v2/persons/{id}``)."""
    if not route_path.startswith("/api/v2/"):
        return None
    return _BODIES.get((method, _blank(route_path.removeprefix("/api/v2"))))


async def prepare_body(request: Request) -> None:
    """Read a write's body before its handler runs, and check it (see the module's doc).

    The checked body is what ``request.json()`` (and ``json_body``) then return. A body that is
    not JSON is left to the handler, except where the operation's JSON body is declared.
    """
    raw = await request.body()
    route = request.scope.get("route")
    schema = body_schema(request.method, getattr(route, "path", ""))
    if schema is None:
        content_type = request.headers.get("content-type", "")
        if request.method not in {"POST", "PUT", "PATCH"} or "json" not in content_type:
            return
        try:
            json.loads(raw)
        except (ValueError, RecursionError):
            return  # the handler answers for a body it cannot read
    body = parse_json(raw)
    if schema is not None:
        body = conform(body, schema)
    request._json = body  # what request.json() returns from now on


async def read_json(request: Request) -> Any:
    """The request's JSON body, whatever its shape; a 400 when it is not JSON."""
    try:
        return await request.json()
    except Exception as exc:
        raise ApiError(400, "Request body is not valid JSON") from exc


async def json_body(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


def page_limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    limit = as_int(raw, "limit")
    if not 1 <= limit <= 500:
        raise ApiError(400, "limit must be between 1 and 500")
    return limit
