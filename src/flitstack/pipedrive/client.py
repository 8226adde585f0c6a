"""An async Pipedrive client that would work unchanged against api.pipedrive.com.

Layers, as httpx does them: ``request`` sends one call through the rate governor, maps error
envelopes to typed errors and retries what is safe to retry; resource helpers above it know
Pipedrive's paths (v2 wherever the spec has it: half the token cost). The token goes in the
``x-api-token`` header and is never logged.

Rate limiting comes back two ways: a 429 (wait its ``Retry-After``, or until the budget resets
at midnight in the account's time zone when the daily budget is spent), and, for clients that
keep calling after 429s, a Cloudflare 403 with an HTML page. A 403 that is not Pipedrive's JSON
error envelope, or any 403 right after 429s, is a block: everyone backs off longer than for a
429 and the call is retried. A 403 with Pipedrive's envelope is a permission error.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import IO, Any

import httpx

from flitstack.pipedrive.costs import token_cost
from flitstack.pipedrive.errors import (
    BudgetExhausted,
    NotFound,
    PipedriveError,
    RateLimited,
    ResponseLost,
    TransientError,
    Unauthorized,
    ValidationFailed,
)
from flitstack.pipedrive.governor import RateGovernor
from flitstack.pipedrive.kinds import KINDS as OBJECT_KINDS

log = logging.getLogger(__name__)

V2_KINDS = ("persons", "organizations", "deals", "activities")
FIELD_PATHS = {
    "person": "personFields",
    "organization": "organizationFields",
    "deal": "dealFields",
    "activity": "activityFields",
}
KIND_OF = {"person": "persons", "organization": "organizations", "deal": "deals",
           "activity": "activities"}  # fmt: skip


#: Objects Pipedrive serves only on v1; everything else the migration writes is on v2.
V1_KINDS = frozenset(k.name for k in OBJECT_KINDS.values() if k.api == "v1")


def record_path(kind: str, record_id: int) -> str:
    """``/v2/persons/7`` or ``/v1/notes/7``: where one record lives."""
    known = OBJECT_KINDS.get(kind)
    return known.record_path(record_id) if known else f"/v2/{kind}/{record_id}"


class PipedriveClient:
    """One account, one token. Use as ``async with PipedriveClient(root, token) as pd:``."""

    def __init__(
        self,
        api_root: str,
        token: str,
        governor: RateGovernor | None = None,
        *,
        max_retries: int = 6,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        block_backoff: float = 30.0,
        block_backoff_cap: float = 300.0,
    ) -> None:
        if not token:
            raise Unauthorized("no API token given (set PIPEDRIVE_API_TOKEN or use the keyring)")
        self.api_root = api_root.rstrip("/")
        self.governor = governor or RateGovernor()
        self.max_retries = max_retries
        #: First wait after a Cloudflare block (403), doubling per block up to the cap.
        self.block_backoff = block_backoff
        self.block_backoff_cap = block_backoff_cap
        self._http = httpx.AsyncClient(
            base_url=self.api_root,
            headers={"x-api-token": token, "accept": "application/json"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            transport=transport,
        )

    async def __aenter__(self) -> PipedriveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- the one place requests are sent -----------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one call; return the decoded envelope. Raises the typed errors."""
        cost = token_cost(method, f"/api{path}")
        search = path.endswith("/search") or path.endswith("/find")
        creates = method == "POST"
        attempt = blocks = 0
        while True:
            slot = await self.governor.acquire(search)
            try:
                response = await self._http.request(
                    method, path, params=params, json=json, files=files, data=data
                )
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                if creates:
                    raise ResponseLost(
                        f"no answer ({type(exc).__name__}); the record may exist",
                        method=method,
                        path=path,
                    ) from exc
                attempt += 1
                if attempt > self.max_retries:
                    raise TransientError(str(exc), method=method, path=path) from exc
                await asyncio.sleep(self.governor.backoff(attempt))
                continue
            finally:
                self.governor.release(slot)
            status = response.status_code
            blocked = status == 403 and _is_block(response, self.governor.after_429())
            refused = status == 429 or blocked  # not served: no tokens drawn
            self.governor.observe(response.headers, 0 if refused else cost)
            if status < 400:
                try:
                    body: dict[str, Any] = response.json()
                except ValueError as exc:
                    if creates:
                        raise ResponseLost("answer was not JSON", method=method, path=path) from exc
                    raise TransientError("answer was not JSON", method=method, path=path) from exc
                return body
            message = _error_message(response)
            if blocked:
                blocks += 1
                if blocks > self.max_retries:
                    raise RateLimited(
                        f"{message}: still blocked after {blocks - 1} back-offs",
                        status=403, method=method, path=path,
                    )  # fmt: skip
                wait = self._block_wait(blocks)
                log.warning(
                    "%s %s: 403 rate-limit block (%s); everyone waits %.0f s",
                    method, path, message, wait,
                )  # fmt: skip
                self.governor.block(wait)
                continue
            if status == 429:
                spent = response.headers.get("x-daily-requests-left") == "0"
                if spent or "budget" in message.lower():
                    raise self._budget_exhausted(response, message, method, path)
                wait = _retry_after(response)
                self.governor.pause(wait)
                attempt += 1
                if attempt > self.max_retries * 3:
                    raise RateLimited(message, status=429, method=method, path=path)
                continue
            if status >= 500:
                if creates and status in {502, 504}:
                    raise ResponseLost(message, status=status, method=method, path=path)
                attempt += 1
                if attempt > self.max_retries:
                    raise TransientError(message, status=status, method=method, path=path)
                await asyncio.sleep(self.governor.backoff(attempt))
                continue
            kind: type[PipedriveError] = {401: Unauthorized, 403: Unauthorized, 404: NotFound}.get(
                status, ValidationFailed
            )
            raise kind(message, status=status, method=method, path=path)

    def _block_wait(self, blocks: int) -> float:
        """The wait after the ``blocks``-th block of one call: doubling from ``block_backoff``,
        capped, always longer than the last 429's wait, with a little jitter."""
        wait = min(self.block_backoff_cap, self.block_backoff * 2 ** (blocks - 1))
        wait = max(wait, 2 * self.governor.last_429_wait)
        return wait * random.uniform(1.0, 1.1)

    def _budget_exhausted(
        self, response: httpx.Response, message: str, method: str, path: str
    ) -> BudgetExhausted:
        """The day's budget is spent: it resets at midnight in the account's time zone (the
        server's ``Retry-After`` when it sends one, else the governor's clock)."""
        wait = _header_seconds(response, "retry-after")
        if wait is None:
            wait = max(1.0, self.governor.seconds_until_reset())
        resets = self.governor.resets_at(wait + 30)  # to the nearest minute: 23:59:59 → 00:00
        when = f"{resets:%Y-%m-%d %H:%M} {self.governor.timezone}"
        return BudgetExhausted(
            f"{message}; the daily budget resets at {when}",
            retry_after=wait, status=429, method=method, path=path,
        )  # fmt: skip

    # --- resources -------------------------------------------------------------------------
    async def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v2/{persons|organizations|deals|activities}."""
        data: dict[str, Any] = (await self.request("POST", f"/v2/{kind}", json=body))["data"]
        return data

    async def get(self, kind: str, record_id: int) -> dict[str, Any]:
        data: dict[str, Any] = (await self.request("GET", record_path(kind, record_id)))["data"]
        return data

    async def patch(self, kind: str, record_id: int, body: dict[str, Any]) -> dict[str, Any]:
        path = f"/v2/{kind}/{record_id}"
        data: dict[str, Any] = (await self.request("PATCH", path, json=body))["data"]
        return data

    async def delete(self, kind: str, record_id: int) -> bool:
        """Delete; False when it was already gone."""
        try:
            await self.request("DELETE", record_path(kind, record_id))
        except NotFound:
            return False
        return True

    async def paginate(
        self, path: str, params: dict[str, Any] | None = None, limit: int = 500
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a list: v2 cursors or v1 start/limit."""
        query = dict(params or {})
        v1 = path.startswith("/v1/")
        query["limit"] = min(limit, 100) if v1 else limit  # v1 lists allow at most 100
        while True:
            body = await self.request("GET", path, params=query)
            for item in body.get("data") or []:
                yield item
            extra = body.get("additional_data") or {}
            if v1:
                pagination = extra.get("pagination") or {}
                if not pagination.get("more_items_in_collection"):
                    return
                query["start"] = pagination.get("next_start", 0)
            else:
                cursor = extra.get("next_cursor")
                if not cursor:
                    return
                query["cursor"] = cursor

    async def list_all(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        return [item async for item in self.paginate(path, params)]

    async def search(
        self, kind: str, term: str, *, fields: str | None = None, exact: bool = True
    ) -> list[dict[str, Any]]:
        """Search persons/organizations/deals; returns the found items."""
        params: dict[str, Any] = {"term": term, "exact_match": str(exact).lower()}
        if fields:
            params["fields"] = fields
        body = await self.request("GET", f"/v2/{kind}/search", params=params)
        return [hit["item"] for hit in (body.get("data") or {}).get("items") or []]

    async def fields(self, target: str) -> list[dict[str, Any]]:
        return await self.list_all(f"/v2/{FIELD_PATHS[target]}")

    async def create_field(
        self, target: str, name: str, field_type: str, options: list[str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"field_name": name, "field_type": field_type}
        if options:
            body["options"] = [{"label": o} for o in options]
        path = f"/v2/{FIELD_PATHS[target]}"
        data: dict[str, Any] = (await self.request("POST", path, json=body))["data"]
        return data

    async def users(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = (await self.request("GET", "/v1/users"))["data"] or []
        return data

    async def me(self) -> dict[str, Any]:
        data: dict[str, Any] = (await self.request("GET", "/v1/users/me"))["data"]
        return data

    async def find_user_by_email(self, email: str) -> dict[str, Any] | None:
        params = {"term": email, "search_by_email": 1}
        found = (await self.request("GET", "/v1/users/find", params=params))["data"] or []
        return next((u for u in found if str(u.get("email", "")).lower() == email.lower()), None)

    async def activity_types(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = (await self.request("GET", "/v1/activityTypes"))["data"]
        return data

    async def create_note(self, body: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = (await self.request("POST", "/v1/notes", json=body))["data"]
        return data

    async def upload_file(
        self,
        name: str,
        content: bytes | Callable[[], IO[bytes]],
        mime: str,
        links: dict[str, int],
    ) -> dict[str, Any]:
        """POST /v1/files. ``content`` is the file's bytes, or a callable opening a fresh binary
        stream of them (a document of the export): httpx sends a stream in chunks, sized by
        seeking to its end and back, and rewinds it when the request is resent, so a document is
        never held whole; it is opened once per call, so a create the engine retries reads it
        again from its start."""
        data = {k: str(v) for k, v in links.items()}
        mime = mime or "application/octet-stream"
        if isinstance(content, bytes):
            body = await self.request(
                "POST", "/v1/files", files={"file": (name, content, mime)}, data=data
            )
        else:
            with content() as stream:
                body = await self.request(
                    "POST", "/v1/files", files={"file": (name, stream, mime)}, data=data
                )
        result: dict[str, Any] = body["data"]
        return result


def _envelope(response: httpx.Response) -> dict[str, Any] | None:
    """Pipedrive's JSON error envelope (``{"success": false, "error": …}``), or None."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("success") is False else None


def _is_html(response: httpx.Response) -> bool:
    if "html" in response.headers.get("content-type", "").lower():
        return True
    return response.content.lstrip()[:1] == b"<"


def _is_block(response: httpx.Response, after_429: bool) -> bool:
    """A 403 that means "too many requests": right after 429s, or not Pipedrive's envelope
    (Cloudflare's HTML page, or anything else in front of the API)."""
    return after_429 or _is_html(response) or _envelope(response) is None


def _error_message(response: httpx.Response) -> str:
    if response.status_code == 403 and _is_html(response):
        return "HTTP 403 block page (Cloudflare rate limiting)"
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"


def _header_seconds(response: httpx.Response, header: str) -> float | None:
    value = response.headers.get(header)
    if value:
        try:
            return max(0.1, float(value))
        except ValueError:
            return None
    return None


def _retry_after(response: httpx.Response) -> float:
    for header in ("retry-after", "x-ratelimit-reset"):
        wait = _header_seconds(response, header)
        if wait is not None:
            return wait
    return 2.0
