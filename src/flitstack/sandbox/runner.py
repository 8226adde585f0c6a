"""The sandbox as an app and as a server on a loopback port for the length of a block."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from flitstack.sandbox.account import Sandbox
from flitstack.sandbox.config import SandboxConfig
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
