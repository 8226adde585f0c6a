"""The sandbox as an app and as a server on a loopback port for the length of a block."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from flitstack.sandbox.account import Sandbox
from flitstack.sandbox.config import SandboxConfig, load_users
from flitstack.sandbox.envelope import envelope_error
from flitstack.sandbox.middleware import Gate
from flitstack.sandbox.routes import build_routes


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """The sandbox as an ASGI app (state in ``app.state.sandbox``)."""
    sandbox = Sandbox(config or SandboxConfig())
    routes = build_routes()

    async def not_found(request: Request, exc: Exception) -> Response:
        return envelope_error(404, "Unknown method .")

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.sandbox = sandbox
    app.add_middleware(Gate, sandbox=sandbox)
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


#: Seconds a stopping sandbox gives requests in flight before it cancels them.
STOP_GRACE_SECONDS = 1


class QuietStop(logging.Filter):
    """Keep uvicorn from logging the requests a stopping sandbox cancels as errors: stopping
    within ``STOP_GRACE_SECONDS`` is what the sandbox is asked to do."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError):
            return False
        return "timeout graceful shutdown exceeded" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(QuietStop())


def with_users(
    config: SandboxConfig, users: str | Path | list[dict[str, Any]] | None
) -> SandboxConfig:
    """The config with these users seeded after its own (the account owner stays first); a
    user whose email the config already has replaces that entry. See ``load_users``."""
    if users is None:
        return config
    seeded = [dict(u) for u in config.seed_users]
    for user in load_users(users):
        emails = [u["email"].casefold() for u in seeded]
        if user["email"].casefold() in emails:
            seeded[emails.index(user["email"].casefold())] = user
        else:
            seeded.append(user)
    return replace(config, seed_users=seeded)


@contextmanager
def running_sandbox(
    config: SandboxConfig | None = None,
    port: int = 0,
    users: str | Path | list[dict[str, Any]] | None = None,
) -> Iterator[SandboxHandle]:
    """Serve the sandbox on a loopback port in a background thread for the block's duration.

    ``users``: a JSON file (or list) of ``{"name", "email", "active"}`` to seed besides the
    account's owner, e.g. a practice's providers, so provider matching can be rehearsed.
    On leaving the block the server stops within about ``STOP_GRACE_SECONDS``: requests still
    in flight then are cancelled.
    """
    app = create_app(with_users(config or SandboxConfig(), users))
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP (accepted ones inherit it), and without it Nagle holds each answer's body back ~40 ms
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off",
            timeout_graceful_shutdown=STOP_GRACE_SECONDS,
        )
    )  # fmt: skip
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
        thread.join(timeout=STOP_GRACE_SECONDS + 2)
        if thread.is_alive():  # still draining: stop waiting for connections and tasks
            server.force_exit = True
            thread.join(timeout=2)
        sock.close()
