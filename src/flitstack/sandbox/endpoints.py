"""What every route handler shares: its signature, the error wrapper and cursor pagination.

A write (POST, PUT, PATCH, DELETE) runs in one store transaction with its answer: the body is
read and checked first (``prepare_body``), the handler runs, its answer is rendered, and only
then is anything committed. An error answer, raised or returned, rolls everything back, so a
refused or failed write leaves nothing stored and a client may safely send it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from flitstack.sandbox.account import Sandbox
from flitstack.sandbox.envelope import ApiError, envelope_error, ok
from flitstack.sandbox.validation import (
    as_timestamp,
    cursor_data,
    encode_cursor,
    page_limit,
    prepare_body,
)

Handler = Callable[[Sandbox, Request], Awaitable[Response]]
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _Refused(Exception):
    """An error answer a handler returned instead of raising: its writes are undone too."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _write_lock(request: Request) -> asyncio.Lock:
    """One write at a time per event loop: a write's transaction is never shared with another
    request's, even if its handler waits (a large upload) while the transaction is open."""
    loop = asyncio.get_running_loop()
    held = getattr(request.app.state, "write_lock", None)
    if held is None or held[0] is not loop:
        held = (loop, asyncio.Lock())
        request.app.state.write_lock = held
    lock: asyncio.Lock = held[1]
    return lock


def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint: the handler gets the account; every error becomes Pipedrive's
    envelope; a write and its answer are one transaction (see the module's doc)."""

    async def endpoint(request: Request) -> Response:
        sb: Sandbox = request.app.state.sandbox
        try:
            if request.method not in WRITES:
                return await handler(sb, request)
            await prepare_body(request)
            async with _write_lock(request):
                with sb.store.transaction():
                    response = await handler(sb, request)
                    if response.status_code >= 400:
                        raise _Refused(response)
            return response  # rendered inside the transaction, committed after
        except _Refused as refused:
            return refused.response
        except ApiError as exc:
            return envelope_error(exc.status, exc.error, exc.info)
        except HTTPException as exc:  # Starlette's own, e.g. a multipart body without boundary
            return envelope_error(exc.status_code, exc.detail)
        except UnicodeEncodeError:  # an answer quoting a client's broken string
            return envelope_error(400, "A string in the request is not valid Unicode")

    return endpoint


#: The v2 list operations' orders (the spec's ``sort_by`` values) and whether they declare
#: ``updated_since`` and ``updated_until``. A list not named here is in ID order only.
LIST_ORDERS: dict[str, tuple[tuple[str, ...], bool]] = {
    "persons": (("id", "update_time", "add_time"), True),
    "organizations": (("id", "update_time", "add_time"), True),
    "deals": (("id", "update_time", "add_time"), True),
    "activities": (("id", "update_time", "add_time", "due_date"), True),
    "pipelines": (("id", "update_time", "add_time"), False),
    "stages": (("id", "update_time", "add_time", "order_nr"), False),
}


def _instant(value: Any) -> str | None:
    """A record's time stamp or a query's, comparable as text (UTC, second precision)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_timestamp(value, "time")
    except ApiError:
        return None


def _sort_value(rec: dict[str, Any], sort_by: str) -> list[Any]:
    """[0] for a record without the value (first ascending), else [1, value]."""
    value = rec.get(sort_by)
    if sort_by in {"update_time", "add_time"}:
        value = _instant(value)
    return [0] if value is None else [1, value]


def page(
    sb: Sandbox, kind: str, request: Request, keep: Callable[[dict[str, Any]], bool]
) -> Response:
    """One page of the records ``keep`` accepts, after the request's cursor (v2 pagination),
    in the order the request asks (``sort_by``, ``sort_direction``) and within its
    ``updated_since`` / ``updated_until`` window where the operation declares those."""
    params = request.query_params
    limit = page_limit(request)
    orders, windowed = LIST_ORDERS.get(kind, (("id",), False))
    sort_by = params.get("sort_by") or "id"
    if sort_by not in orders:
        raise ApiError(400, f"sort_by must be one of {', '.join(orders)}")
    direction = params.get("sort_direction") or "asc"
    if direction not in {"asc", "desc"}:
        raise ApiError(400, "sort_direction must be asc or desc")
    window: dict[str, str | None] = {"updated_since": None, "updated_until": None}
    for name in window if windowed else ():
        if params.get(name):
            window[name] = as_timestamp(params[name], name)
    since, until = window["updated_since"], window["updated_until"]

    def wanted(rec: dict[str, Any]) -> bool:
        if since or until:
            stamp = _instant(rec.get("update_time"))
            if stamp is None or (since and stamp < since) or (until and stamp >= until):
                return False
        return keep(rec)

    cursor = cursor_data(params.get("cursor"))
    rows: list[dict[str, Any]] = []
    if sort_by == "id" and direction == "asc":  # the store's own order: read only what is needed
        after = cursor["id"] if cursor else 0
        more = False
        for rec in sb.store.all(kind, after_id=after):
            if wanted(rec):
                if len(rows) == limit:
                    more = True
                    break
                rows.append(rec)
        nxt = encode_cursor(rows[-1]["id"]) if more else None
        return ok(rows, {"next_cursor": nxt})

    def order(rec: dict[str, Any]) -> tuple[Any, ...]:
        return (*_sort_value(rec, sort_by), rec["id"])

    rows = sorted(filter(wanted, sb.store.all(kind)), key=order, reverse=direction == "desc")
    if cursor is not None:
        mark = cursor.get("key")
        if not isinstance(mark, list) or mark[:1] not in ([0], [1]):
            raise ApiError(400, "Invalid cursor")
        last = (*mark, cursor["id"])
        try:
            rows = [r for r in rows if (order(r) > last if direction == "asc" else order(r) < last)]
        except TypeError as exc:  # a cursor made for another order
            raise ApiError(400, "Invalid cursor") from exc
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(rows[-1]["id"], _sort_value(rows[-1], sort_by)) if more else None
    return ok(rows, {"next_cursor": nxt})


#: Filters of the v2 list operations that are not record IDs: (kind, parameter) -> its values.
VALUE_FILTERS: dict[tuple[str, str], dict[str, Any]] = {
    ("activities", "done"): {"true": True, "1": True, "false": False, "0": False},
    ("deals", "status"): {s: s for s in ("open", "won", "lost", "deleted")},
}


def value_filters(kind: str, request: Request) -> dict[str, Any]:
    """The list operation's non-ID filters (``done`` of activities, ``status`` of deals) as
    record values to match; a value the spec does not allow is a 400."""
    found: dict[str, Any] = {}
    for (k, name), values in VALUE_FILTERS.items():
        raw = request.query_params.get(name)
        if k != kind or raw is None:
            continue
        if raw.lower() not in values:
            raise ApiError(400, f"{name} must be one of {', '.join(values)}")
        found[name] = values[raw.lower()]
    return found
