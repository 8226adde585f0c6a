"""Schemathesis over every operation the sandbox serves from Pipedrive's own OpenAPI specs.

Each operation of the v1 and v2 specs that the sandbox has a route for is fuzzed with the
schema's examples, its coverage cases (boundaries, wrong types, missing and extra parameters) and
a few generated requests, valid and invalid, over loopback HTTP against a running sandbox. Every
answer must be something other than a server error, and every error must be Pipedrive's JSON
envelope (``success: false``, an ``error`` message, ``data: null``).

Seeded and derandomized, with a bounded number of generated examples per operation, so a run is
repeatable and short. The operations are the spec's, filtered to the sandbox's route table, so a
route added to the sandbox is fuzzed from then on without touching this file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error

from flitstack.sandbox.routes import build_routes
from flitstack.sandbox.server import SandboxConfig, SandboxHandle, running_sandbox

REPO = Path(__file__).resolve().parents[2]
SPEC_DIRS = (REPO / ".." / "shared" / "pipedrive-openapi", REPO / "docs" / "pipedrive-openapi")
MAX_EXAMPLES = 6  # generated (fuzzing) examples per operation; examples and coverage come on top
SEED = 20240611


def _template(path: str) -> str:
    return re.sub(r"\{[^}/]+\}", "{}", path)


@cache
def served() -> frozenset[tuple[str, str]]:
    """(method, path template) of every route the sandbox answers, parameters blanked."""
    found = set()
    for route in build_routes():
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, _template(route.path)))
    return frozenset(found)


@cache
def _document(version: str) -> dict[str, Any] | None:
    for folder in SPEC_DIRS:
        path = folder / f"pipedrive-{version}-openapi.yml"
        if path.exists():
            document: dict[str, Any] = yaml.load(
                path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader
            )
            return document
    return None


def _is_served(version: str, method: str, path: str) -> bool:
    return (method.upper(), f"/api/{version}{_template(path)}") in served()


#: "v1 GET /users" etc.: every operation fuzzed, filled in as the schemas are loaded below.
FUZZED: set[str] = set()
METHODS = {"get", "post", "put", "patch", "delete"}


def _schema(version: str) -> Any:
    """The spec's document with only the operations the sandbox serves, as a schemathesis
    schema: seeded, bounded, with the examples, coverage and fuzzing phases."""
    document = _document(version)
    if document is None:  # the specs are not beside this checkout: nothing to parametrize
        document = {"openapi": "3.0.1", "info": {"title": "-", "version": "-"}, "paths": {}}
    paths = {}
    for path, item in document["paths"].items():
        ops = {m: op for m, op in item.items() if m in METHODS and _is_served(version, m, path)}
        if ops:
            shared = {k: v for k, v in item.items() if k not in METHODS}  # path-level parameters
            paths[path] = {**shared, **ops}
            FUZZED.update(f"{version} {m.upper()} {path}" for m in ops)
    document = {**document, "paths": paths}
    schema = schemathesis.openapi.from_dict(document, config=schemathesis.Config(seed=SEED))
    schema.config.generation.update(max_examples=MAX_EXAMPLES)
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
    return schema


V1, V2 = _schema("v1"), _schema("v2")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    config = SandboxConfig(
        burst_limit=1_000_000,
        search_burst_limit=1_000_000,
        daily_budget=10**12,
        seed_persons=[{"name": "Already Here"}],
        seed_organizations=[{"name": "Existing Org"}],
    )
    with running_sandbox(config) as sb:
        yield sb


def pipedrive_error_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx or 5xx answer is Pipedrive's JSON error envelope."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    assert content_type.startswith("application/json"), (
        f"{response.status_code} answered as {content_type!r}: {response.content[:200]!r}"
    )
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    assert body.get("success") is False, body
    assert isinstance(body.get("error"), str) and body["error"], body
    assert body.get("data") is None, body
    return None


CHECKS = [not_a_server_error, pipedrive_error_envelope]
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


@V1.parametrize()
@SETTINGS
def test_v1_operations_answer_without_server_errors(case: Any, sandbox: SandboxHandle) -> None:
    case.call_and_validate(
        base_url=f"{sandbox.base_url}/v1", params={"api_token": sandbox.api_token}, checks=CHECKS
    )


@V2.parametrize()
@SETTINGS
def test_v2_operations_answer_without_server_errors(case: Any, sandbox: SandboxHandle) -> None:
    case.call_and_validate(
        base_url=f"{sandbox.base_url}/v2", params={"api_token": sandbox.api_token}, checks=CHECKS
    )


def test_every_served_operation_is_fuzzed() -> None:
    """Every route of the sandbox that Pipedrive's specs define is fuzzed (the path parameters'
    names may differ: ``{code}`` and ``{field_code}``); the others are the sandbox's own."""
    if _document("v1") is None or _document("v2") is None:
        pytest.skip("Pipedrive's OpenAPI specs are not beside this checkout")
    in_specs = {
        (m.upper(), f"/api/{version}{_template(path)}")
        for version in ("v1", "v2")
        for path, item in (_document(version) or {}).get("paths", {}).items()
        for m in item
        if m in METHODS
    }
    fuzzed = {
        (label.split()[1], f"/api/{label.split()[0]}{_template(label.split()[2])}")
        for label in FUZZED
    }
    assert served() & in_specs == fuzzed
    assert len(fuzzed) > 50, sorted(served() - in_specs)
