"""Serving the sandbox: users seeded from a file (to rehearse provider matching), and
``flitstack sandbox serve`` stopping promptly on Ctrl-C, even with a request in flight."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from flitstack.cli import app
from flitstack.pipedrive.client import PipedriveClient
from flitstack.sandbox.config import load_users
from flitstack.sandbox.server import SandboxConfig, running_sandbox

PROVIDERS = [
    {"name": "Dr. Ada Root", "email": "ada.root@smiles.example", "active": True},
    {"name": "Dr. Ben Crown", "email": "Ben.Crown@smiles.example", "active": False},
    {"name": "Cleo Floss", "email": "cleo@smiles.example"},
]


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.json"
    path.write_text(json.dumps(PROVIDERS), encoding="utf-8")
    return path


def test_seeded_users_are_listed_and_found_by_email(users_file: Path) -> None:
    with running_sandbox(SandboxConfig(), users=users_file) as sb:

        async def go() -> tuple[list[dict], dict, dict | None, dict | None, dict]:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                users = await pd.users()
                me = await pd.me()
                ben = await pd.find_user_by_email("ben.crown@smiles.example")
                nobody = await pd.find_user_by_email("nobody@smiles.example")
                one = (await pd.request("GET", f"/v1/users/{users[1]['id']}"))["data"]
                return users, me, ben, nobody, one

        users, me, ben, nobody, one = asyncio.run(go())
    assert [u["email"] for u in users] == [
        "admin@sandbox.example",
        *(p["email"] for p in PROVIDERS),
    ]  # the account's owner stays first (the API token's user)
    assert me["email"] == "admin@sandbox.example" and me["is_you"] is True
    assert [u["active_flag"] for u in users[1:]] == [True, False, True]  # active defaults true
    assert ben is not None and ben["name"] == "Dr. Ben Crown" and ben["active_flag"] is False
    assert nobody is None
    assert one["email"] == "ada.root@smiles.example" and one["is_you"] is False


def test_seeded_users_join_a_kept_account(tmp_path: Path, users_file: Path) -> None:
    db = str(tmp_path / "account.sqlite")
    with running_sandbox(SandboxConfig(db_path=db)) as sb:
        assert len(sb.dump()["users"]) == 1
    with running_sandbox(SandboxConfig(db_path=db), users=users_file) as sb:
        assert [u["name"] for u in sb.dump()["users"]][1:] == [p["name"] for p in PROVIDERS]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", "not JSON"),
        ('{"name": "x"}', "expected a JSON array"),
        ('[{"name": "A"}]', "user 1 (A) has no valid email"),
        ('[{"email": "a@x.example"}]', "user 1 has no name"),
        ('[{"name": "A", "email": "a@x.example", "active": "yes"}]', "active must be true"),
        ('[{"name": "A", "email": "a@x.example", "role": 1}]', "unknown keys ['role']"),
        ('[{"name": "A", "email": "a@x"}, {"name": "B", "email": "A@X"}]', "listed twice"),
    ],
)
def test_a_wrong_users_file_is_refused_in_one_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "users.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_users(path)
    result = CliRunner().invoke(app, ["sandbox", "serve", "--users", str(path)])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


# --- the command, as a process ----------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``flitstack sandbox serve`` and wait until it answers; (process, API root)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flitstack", "sandbox", "serve", "--port", str(port),
         "--token", "t0k3n", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"},
        # a child started with SIGINT ignored (a background job) would ignore Ctrl-C too
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, root
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("flitstack sandbox serve did not start")


def _interrupt(proc: subprocess.Popen[str]) -> tuple[float, str, str]:
    """Ctrl-C: SIGINT, then (seconds until it exited, stdout, stderr)."""
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return time.monotonic() - started, out, err


def test_serve_seeds_users_from_a_file_and_stops_on_ctrl_c(users_file: Path) -> None:
    proc, root = _serve("--users", str(users_file))
    try:
        found = httpx.get(
            f"{root}/v1/users/find",
            params={"term": "cleo@smiles.example", "search_by_email": 1},
            headers={"x-api-token": "t0k3n"},
        ).json()["data"]
        listed = httpx.get(f"{root}/v1/users", headers={"x-api-token": "t0k3n"}).json()["data"]
    finally:
        took, out, err = _interrupt(proc)
    assert [u["name"] for u in found] == ["Cleo Floss"]
    assert len(listed) == 1 + len(PROVIDERS)
    assert "users: 4, 3 of them from" in out
    assert proc.returncode is not None, f"still running {took:.1f} s after Ctrl-C"
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert out.strip().splitlines()[-1] == "Pipedrive sandbox stopped."


def test_serve_stops_promptly_on_ctrl_c_with_a_request_in_flight() -> None:
    proc, root = _serve("--latency-ms", "30000")  # every answer takes 30 s
    answers: list[object] = []

    def slow() -> None:
        try:
            answers.append(httpx.get(f"{root}/v1/users/me?api_token=t0k3n", timeout=60))
        except httpx.HTTPError as exc:
            answers.append(exc)

    waiting = threading.Thread(target=slow, daemon=True)
    waiting.start()
    time.sleep(0.5)  # the request is in the server, sleeping
    took, out, err = _interrupt(proc)
    waiting.join(timeout=5)
    # it does not wait for the 30 s answer in flight (well under half of it, on any machine)
    assert took < 15, f"took {took:.1f} s to stop"
    assert proc.returncode == 0 and "Traceback" not in err, err
    lines = out.strip().splitlines()
    assert lines[-1] == "Pipedrive sandbox stopped." and lines.count(lines[-1]) == 1
    assert answers, "the request in flight was left hanging"
    answer = answers[0]  # cut short: a 500 or a dropped connection, never a late success
    assert not isinstance(answer, httpx.Response) or answer.status_code >= 500, answer
    assert not err.strip(), err  # nothing logged about the cancelled request
