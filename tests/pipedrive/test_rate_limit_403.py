"""A client that keeps calling after 429s can get Cloudflare's 403 HTML page: that is rate
limiting (back off longer than for a 429, retry), not a permission error. A 403 with Pipedrive's
JSON error envelope is still a permission error. Over real loopback HTTP, against a tiny server
that answers from a script."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.errors import RateLimited, Unauthorized

CLOUDFLARE_PAGE = """<!DOCTYPE html>
<html><head><title>Attention Required! | Cloudflare</title></head>
<body><h1>Sorry, you have been blocked</h1><p>Cloudflare Ray ID: 8f0c0ffee</p></body></html>"""
OK = {"success": True, "data": {"id": 7, "name": "Ada"}}
OVER_LIMIT = {"success": False, "error": "Request over limit", "data": None}
FORBIDDEN = {
    "success": False, "error": "You do not have permissions to perform this action",
    "error_info": "Please check developers.pipedrive.com", "data": None,
}  # fmt: skip


def ok() -> Response:
    return JSONResponse(OK)


def too_many(wait: str = "0.1") -> Response:
    return JSONResponse(OVER_LIMIT, status_code=429, headers={"retry-after": wait})


def blocked() -> Response:
    return HTMLResponse(CLOUDFLARE_PAGE, status_code=403)


def forbidden() -> Response:
    return JSONResponse(FORBIDDEN, status_code=403)


@dataclass
class Script:
    """The answers to give, in order (the last one repeats), and when each request came."""

    answers: list[Any]
    seen: list[float] = field(default_factory=list)

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.seen, self.seen[1:], strict=False)]


@contextmanager
def scripted_server(script: Script) -> Iterator[str]:
    async def answer(request: Request) -> Response:
        script.seen.append(time.monotonic())
        make = script.answers.pop(0) if len(script.answers) > 1 else script.answers[0]
        response: Response = make()
        return response

    app = Starlette(routes=[Route("/api/{rest:path}", answer, methods=["GET", "POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    finally:
        server.should_exit = True
        thread.join(5)


def call(base: str, method: str = "GET", **client: Any) -> tuple[Any, PipedriveClient]:
    async def go() -> tuple[Any, PipedriveClient]:
        async with PipedriveClient(base, "token", **client) as pd:
            if method == "POST":
                return await pd.create("persons", {"name": "Ada"}), pd
            return await pd.get("persons", 7), pd

    return asyncio.run(go())


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_429_then_cloudflare_403_page_then_200_succeeds_after_a_longer_back_off(
    method: str,
) -> None:
    script = Script([too_many, blocked, ok])
    with scripted_server(script) as base:
        data, pd = call(base, method, block_backoff=0.4)
    assert data == OK["data"]
    assert len(script.seen) == 3  # one 429, one block page, one success: nothing raised
    after_429, after_403 = script.gaps()
    assert after_429 >= 0.1  # the 429's Retry-After
    assert after_403 >= 0.4 and after_403 > after_429  # the block waits longer
    assert (pd.governor.throttled, pd.governor.blocked) == (1, 1)
    assert pd.governor.tokens_spent == (5 if method == "POST" else 1)  # refusals draw nothing


def test_a_403_page_without_429s_before_is_rate_limiting_too() -> None:
    script = Script([blocked, blocked, ok])
    with scripted_server(script) as base:
        data, pd = call(base, block_backoff=0.05)
    assert data == OK["data"] and pd.governor.blocked == 2
    first, second = script.gaps()
    assert second > first * 1.5  # the back-off doubles from one block to the next


def test_a_403_with_pipedrives_envelope_is_a_permission_error() -> None:
    script = Script([forbidden, ok])
    with scripted_server(script) as base, pytest.raises(Unauthorized) as info:
        call(base, block_backoff=0.05)
    assert info.value.status == 403
    assert "permissions" in info.value.message
    assert len(script.seen) == 1  # not retried


def test_any_403_right_after_429s_is_rate_limiting() -> None:
    script = Script([too_many, forbidden, ok])
    with scripted_server(script) as base:
        data, pd = call(base, block_backoff=0.2)
    assert data == OK["data"] and pd.governor.blocked == 1
    assert script.gaps()[1] >= 0.2


def test_a_block_that_never_lifts_ends_as_rate_limited_not_as_a_permission_error() -> None:
    script = Script([blocked])
    with scripted_server(script) as base, pytest.raises(RateLimited) as info:
        call(base, max_retries=2, block_backoff=0.01)
    assert info.value.status == 403 and "Cloudflare" in info.value.message
    assert len(script.seen) == 3  # the first try and two back-offs
