"""The gate every request passes: latency, auth, rate limits and injected faults.

It is also the last word on errors: whatever answers with an error that is not JSON (Starlette's
own plain-text answers) is answered with Pipedrive's envelope instead, and an unexpected
exception is a JSON 500 (a sandbox bug: logged, never a bare "Internal Server Error").
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send

from flitstack.sandbox.account import Sandbox
from flitstack.sandbox.envelope import envelope_error


class Gate:
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
            await envelope_error(401, "unauthorized access")(scope, receive, send)
            return
        headers, refusal = sb.admit(method, path, token)
        if refusal is not None:
            refusal.headers.update(headers)
            await refusal(scope, receive, send)
            return
        if sb.roll(cfg.fault_reset_rate):
            sb.counters["resets"] += 1
            await drop(send)
            return
        if sb.roll(cfg.fault_5xx_rate):
            sb.counters["5xx"] += 1
            response = envelope_error(503, "Service temporarily unavailable")
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

            await self.guarded(scope, receive, swallow)  # the write is committed…
            await drop(send)  # …and the answer never arrives
            return
        await self.guarded(scope, receive, send_with_headers)

    async def guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; an error answer that is not JSON, or an exception, becomes the
        envelope (see the module's doc)."""
        started = False
        plain: list[Any] = []  # [status, body so far] of a non-JSON error being replaced

        async def envelope_errors(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                if message["status"] >= 400 and not content_type.startswith(b"application/json"):
                    plain[:] = [message["status"], b""]
                    return
            elif message["type"] == "http.response.body" and plain:
                plain[1] += message.get("body", b"")
                if message.get("more_body", False):
                    return
                status = plain[0]
                text = plain[1].decode("utf-8", "replace").strip()[:300]
                started = True
                await envelope_error(status, text or _phrase(status))(scope, receive, send)
                return
            started = True
            await send(message)

        try:
            await self.app(scope, receive, envelope_errors)
        except ClientDisconnect:
            return  # the client went away before its request was read: no one to answer
        except Exception:
            LOG.exception("sandbox bug: %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # the answer is under way: nothing better than closing the connection
            self.sb.counters["bugs"] += 1
            await envelope_error(500, "Internal server error")(scope, receive, send)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def drop(send: Send) -> None:
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


class QuietDrops(logging.Filter):
    """Keep uvicorn from logging the deliberate connection drops as application errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (exc is not None and "Too little data" in str(exc))


logging.getLogger("uvicorn.error").addFilter(QuietDrops())
LOG = logging.getLogger("flitstack.sandbox")
