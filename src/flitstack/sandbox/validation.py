"""Reading request parameters and bodies: typed values, JSON bodies, page limits, cursors.

Every refusal is an ``ApiError`` (400) with the message Pipedrive would give.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from typing import Any

from starlette.requests import Request

from flitstack.sandbox.envelope import ApiError


def as_timestamp(value: Any, name: str) -> str:
    """Accept ISO 8601 or Pipedrive's ``YYYY-MM-DD HH:MM:SS`` (UTC); store ISO with Z."""
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string date-time")
    text = value.strip().replace(" ", "T").replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ApiError(400, f"Invalid {name}: {value!r}") from exc
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def as_date(value: Any, name: str) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise ApiError(400, f"Invalid date in {name}: {value!r}") from exc


def as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(400, f"{name} must be an integer")
    try:
        return int(value)
    except ValueError as exc:
        raise ApiError(400, f"{name} must be an integer") from exc


def encode_cursor(after_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": after_id}).encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["id"])
    except Exception as exc:
        raise ApiError(400, "Invalid cursor") from exc


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except Exception as exc:
        raise ApiError(400, "Request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


def page_limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    limit = as_int(raw, "limit")
    if not 1 <= limit <= 500:
        raise ApiError(400, "limit must be between 1 and 500")
    return limit
