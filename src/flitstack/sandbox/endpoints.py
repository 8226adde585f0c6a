"""What every route handler shares: its signature, the error wrapper and cursor pagination."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from flitstack.sandbox.account import Sandbox
from flitstack.sandbox.envelope import ApiError, envelope_error, ok
from flitstack.sandbox.validation import decode_cursor, encode_cursor, page_limit

Handler = Callable[[Sandbox, Request], Awaitable[Response]]


def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint: the handler gets the account; an ApiError becomes its envelope."""

    async def endpoint(request: Request) -> Response:
        sb: Sandbox = request.app.state.sandbox
        try:
            return await handler(sb, request)
        except ApiError as exc:
            return envelope_error(exc.status, exc.error, exc.info)

    return endpoint


def page(
    sb: Sandbox, kind: str, request: Request, keep: Callable[[dict[str, Any]], bool]
) -> Response:
    """One page of the records ``keep`` accepts, after the request's cursor (v2 pagination)."""
    limit = page_limit(request)
    after = decode_cursor(request.query_params.get("cursor"))
    rows: list[dict[str, Any]] = []
    last = after
    for rec in sb.store.all(kind, after_id=after):
        last = rec["id"]
        if keep(rec):
            rows.append(rec)
            if len(rows) == limit:
                break
    more = len(rows) == limit and any(keep(r) for r in sb.store.all(kind, after_id=last, limit=1))
    return ok(rows, {"next_cursor": encode_cursor(last) if more else None})
