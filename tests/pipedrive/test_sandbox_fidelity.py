"""The sandbox answers bad input the way Pipedrive does, over real loopback HTTP.

Every error is Pipedrive's JSON envelope with a 4xx status (a sandbox bug is a JSON 500, never
plain text); a refused or failed write leaves nothing stored, not even an ID; IDs in bodies are
ignored; v2 drops properties an operation does not declare and refuses declared ones of the
wrong type, naming them; IDs and cursors that are not numbers (or beyond 64 bits) are a 400,
not a crash; and the v2 lists honour ``sort_by``, ``sort_direction``, ``updated_since`` and
``updated_until`` where the spec declares them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flitstack.sandbox.account import Sandbox
from flitstack.sandbox.bodies import BODIES
from flitstack.sandbox.endpoints import wrap
from flitstack.sandbox.envelope import ApiError, ok
from flitstack.sandbox.routes import build_routes
from flitstack.sandbox.server import SandboxConfig, SandboxHandle, running_sandbox

REPO = Path(__file__).resolve().parents[2]
SPEC_DIRS = (REPO / ".." / "shared" / "pipedrive-openapi", REPO / "docs" / "pipedrive-openapi")
HUGE = "123456789012345678901234567890"  # beyond 64 bits
LONE = b'"\\ud800"'  # a lone surrogate as JSON text: valid JSON, never valid UTF-8


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(burst_limit=10_000, search_burst_limit=10_000)) as sb:
        yield sb


@pytest.fixture
def api(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, params={"api_token": sandbox.api_token}) as c:
        yield c


def is_envelope(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """The answer is Pipedrive's error envelope (with this status); its body."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False and body["data"] is None, body
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["error_info"], str), body
    if status is not None:
        assert response.status_code == status, body
    else:
        assert 400 <= response.status_code < 500, (response.status_code, body)
    return body


def raw_json(client: httpx.Client, method: str, url: str, content: bytes) -> httpx.Response:
    return client.request(
        method, url, content=content, headers={"content-type": "application/json"}
    )


def listed(client: httpx.Client, kind: str, **params: Any) -> list[dict[str, Any]]:
    """Every record of a v2 list, following its cursors."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = client.get(f"/v2/{kind}", params=query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        out += body["data"]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return out


def create(client: httpx.Client, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(f"/v2/{kind}", json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


# --- errors are envelopes, never crashes ----------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"/v2/persons/{HUGE}"),
        ("PATCH", f"/v2/deals/{HUGE}"),
        ("DELETE", f"/v2/activities/-{HUGE}"),
        ("GET", f"/v2/pipelines/{HUGE}"),
        ("GET", f"/v1/notes/{HUGE}"),
        ("DELETE", f"/v1/files/{HUGE}"),
        ("GET", f"/v1/persons/{HUGE}/files"),
        ("GET", "/v2/persons/abc"),
        ("GET", "/v2/stages/1e3"),
        ("GET", "/v2/organizations/\u0661\u0662"),  # digits, but not ASCII ones
        ("GET", f"/v2/persons?owner_id={HUGE}"),
        ("GET", "/v2/stages?pipeline_id=abc"),
        ("GET", "/v2/persons?cursor=not-a-cursor"),
        ("GET", "/v2/persons?cursor=%C2%8E%C3%8F"),
        ("GET", "/v2/deals?cursor=eyJpZCI6ICJ4In0="),  # base64 JSON, but not a cursor
        ("GET", "/v2/personFields?cursor=abc"),
        ("GET", "/v2/persons/search?term=Al&cursor=x1"),
        ("GET", "/v2/persons?limit=ten"),
    ],
)
def test_ids_and_cursors_that_are_no_numbers_are_a_400_not_a_crash(
    api: httpx.Client, method: str, url: str
) -> None:
    path, _, query = url.partition("?")
    params = dict(parse_qsl(query)) if query else None  # client params would replace a query
    answer = api.request(method, path, params=params, json={} if method == "PATCH" else None)
    is_envelope(answer, 400)


def test_a_huge_id_in_a_body_is_refused_by_name(api: httpx.Client) -> None:
    answer = raw_json(
        api, "POST", "/v2/persons", b'{"name": "A", "owner_id": ' + HUGE.encode() + b"}"
    )
    assert "owner_id" in is_envelope(answer, 400)["error"]


def test_a_field_type_that_is_no_string_is_a_400_naming_it(api: httpx.Client) -> None:
    for body in ({"field_name": "Chart", "field_type": {}}, {"field_name": "C", "field_type": []}):
        answer = api.post("/v2/personFields", json=body)
        assert "field_type" in is_envelope(answer, 400)["error"]
    assert all(not f["is_custom_field"] for f in api.get("/v2/personFields").json()["data"])


def test_starlettes_own_errors_are_envelopes_too(api: httpx.Client) -> None:
    upload = api.post("/v1/files", headers={"content-type": "multipart/form-data"}, content=b"x")
    is_envelope(upload, 400)  # Starlette: "Missing boundary in multipart."
    is_envelope(api.get("/v2/no-such-thing"), 404)
    is_envelope(api.request("PUT", "/v2/persons"), 404)  # a method the path does not have
    is_envelope(raw_json(api, "POST", "/v2/persons", b"{not json"), 400)
    is_envelope(raw_json(api, "POST", "/v2/persons", b'{"name": NaN}'), 400)
    is_envelope(raw_json(api, "POST", "/v2/deals", b'{"title": "T", "value": 1e999}'), 400)
    is_envelope(raw_json(api, "POST", "/v2/persons", b'["a list"]'), 400)


def test_an_unexpected_exception_is_a_json_500_and_rolls_back(
    sandbox: SandboxHandle, api: httpx.Client
) -> None:
    async def boom(sb: Sandbox, request: Request) -> Response:
        sb.create("persons", {"name": "Half-written"})
        raise RuntimeError("a sandbox bug")

    _add_route(sandbox, "/api/v2/test-boom", boom)
    before = len(listed(api, "persons"))
    answer = api.post("/v2/test-boom", json={})
    body = is_envelope(answer, 500)
    assert body["error"] == "Internal server error"
    assert len(listed(api, "persons")) == before


# --- a failed write stores nothing ----------------------------------------------------------------
def test_a_lone_surrogate_is_a_400_and_nothing_is_stored(api: httpx.Client) -> None:
    first = create(api, "persons", {"name": "Before"})
    answer = raw_json(api, "POST", "/v2/persons", b'{"name": ' + LONE + b"}")
    assert "name" in is_envelope(answer, 400)["error"]
    nested = raw_json(
        api, "POST", "/v2/persons", b'{"name": "N", "emails": [{"value": ' + LONE + b"}]}"
    )
    assert "emails[0].value" in is_envelope(nested, 400)["error"]
    patch = raw_json(api, "PATCH", f"/v2/persons/{first['id']}", b'{"name": ' + LONE + b"}")
    is_envelope(patch, 400)
    note = raw_json(
        api, "POST", "/v1/notes",
        b'{"content": ' + LONE + b', "person_id": ' + str(first["id"]).encode() + b"}",
    )  # fmt: skip
    is_envelope(note, 400)
    # nothing stored, nothing half-changed, the list still answers, and no ID was spent
    assert [p["name"] for p in listed(api, "persons")] == ["Before"]
    assert api.get("/v1/notes").json()["data"] == []
    assert create(api, "persons", {"name": "After"})["id"] == first["id"] + 1


def test_a_refused_write_stores_nothing(api: httpx.Client) -> None:
    pipeline = create(api, "pipelines", {"name": "Main"})
    other = create(api, "pipelines", {"name": "Other"})
    stage = create(api, "stages", {"name": "First", "pipeline_id": pipeline["id"]})
    deal = create(api, "deals", {"title": "Kept", "stage_id": stage["id"]})
    refused = [
        api.post(
            "/v2/deals", json={"title": "X", "stage_id": stage["id"], "pipeline_id": other["id"]}
        ),
        api.post("/v2/deals", json={"title": "X", "person_id": 424242}),
        api.post("/v2/stages", json={"name": "Orphan", "pipeline_id": 424242}),
        api.post("/v2/persons", json={"name": "X", "custom_fields": {"nope": 1}}),
        api.patch(f"/v2/deals/{deal['id']}", json={"title": "Changed", "status": "sideways"}),
    ]
    for answer in refused:
        is_envelope(answer, 400)
    assert [d["title"] for d in listed(api, "deals")] == ["Kept"]
    assert [s["name"] for s in listed(api, "stages")] == ["First"]
    assert listed(api, "persons") == []
    assert create(api, "deals", {"title": "Next"})["id"] == deal["id"] + 1


def _add_route(sandbox: SandboxHandle, path: str, handler: Any) -> None:
    """A route served by the running sandbox's own app (wrapped like every other)."""
    app = sandbox.server.config.app
    app.router.routes.insert(0, Route(path, wrap(handler), methods=["POST"]))


def test_a_write_and_its_answer_are_one_transaction(
    sandbox: SandboxHandle, api: httpx.Client
) -> None:
    """Writes whose answer fails after the fact (it cannot be encoded, a later refusal, an
    error returned rather than raised) are rolled back: the store is exactly as before."""

    async def unencodable(sb: Sandbox, request: Request) -> Response:
        return ok(sb.create("persons", {"name": "Broken \ud800 name"}))

    async def refused_late(sb: Sandbox, request: Request) -> Response:
        sb.create("persons", {"name": "Written first"})
        raise ApiError(400, "refused after writing")

    async def error_returned(sb: Sandbox, request: Request) -> Response:
        sb.create("persons", {"name": "Also written first"})
        return JSONResponse({"success": False, "error": "no", "data": None}, status_code=409)

    for path, handler in (
        ("/api/v2/test-unencodable", unencodable),
        ("/api/v2/test-refused", refused_late),
        ("/api/v2/test-returned", error_returned),
    ):
        _add_route(sandbox, path, handler)
    before = sandbox.dump()
    is_envelope(api.post("/v2/test-unencodable", json={}), 400)
    is_envelope(api.post("/v2/test-refused", json={}), 400)
    assert api.post("/v2/test-returned", json={}).status_code == 409
    assert sandbox.dump() == before
    assert listed(api, "persons") == []


# --- IDs, unknown properties and types in bodies --------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "body", "change"),
    [
        ("persons", {"name": "A"}, {"name": "B"}),
        ("organizations", {"name": "A"}, {"name": "B"}),
        ("deals", {"title": "A"}, {"title": "B"}),
        ("activities", {"subject": "A"}, {"subject": "B"}),
        ("pipelines", {"name": "A"}, {"name": "B"}),
    ],
)
def test_ids_in_bodies_are_ignored_on_create_and_patch(
    api: httpx.Client, kind: str, body: dict[str, Any], change: dict[str, Any]
) -> None:
    other = create(api, kind, body)
    made = create(api, kind, {**body, "id": other["id"]})  # was a 500 (a duplicate key)
    assert made["id"] != other["id"]
    made = create(api, kind, {**body, "id": 987654})
    is_envelope(api.get(f"/v2/{kind}/987654"), 404)
    patched = api.patch(f"/v2/{kind}/{made['id']}", json={**change, "id": other["id"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["id"] == made["id"]
    key = next(iter(change))
    assert api.get(f"/v2/{kind}/{made['id']}").json()["data"][key] == change[key]  # saved
    assert api.get(f"/v2/{kind}/{other['id']}").json()["data"][key] == body[key]  # untouched


def test_v2_drops_properties_the_operation_does_not_declare(api: httpx.Client) -> None:
    person = create(
        api, "persons",
        {"name": "A", "favourite_colour": "blue", "emails": [{"value": "a@x.example", "x": 1}]},
    )  # fmt: skip
    assert "favourite_colour" not in person
    assert person["emails"] == [{"value": "a@x.example", "primary": True, "label": "work"}]
    patched = api.patch(f"/v2/persons/{person['id']}", json={"shoe_size": 44}).json()["data"]
    stored = api.get(f"/v2/persons/{person['id']}").json()["data"]
    assert "shoe_size" not in patched and "shoe_size" not in stored
    org = create(api, "organizations", {"name": "O", "address": {"value": "1 Main St", "x": 1}})
    assert org["address"] == {"value": "1 Main St"}


@pytest.mark.parametrize(
    ("kind", "body", "named"),
    [
        ("persons", {"name": "A", "label_ids": "notalist"}, "label_ids must be an array"),
        ("persons", {"name": "A", "label_ids": ["x"]}, "label_ids[0] must be an integer"),
        ("persons", {"name": "A", "owner_id": "1"}, "owner_id must be an integer"),
        ("persons", {"name": 5}, "name must be a string"),
        ("persons", {"name": "A", "emails": [{"value": 3}]}, "emails[0].value must be a string"),
        ("persons", {"name": "A", "custom_fields": []}, "custom_fields must be an object"),
        ("organizations", {"name": "O", "address": "x"}, "address must be an object"),
        ("deals", {"title": "T", "value": "12"}, "value must be a number"),
        ("deals", {"title": "T", "is_archived": "no"}, "is_archived must be a boolean"),
        ("activities", {"subject": "S", "done": 1}, "done must be a boolean"),
        ("activities", {"participants": [{"person_id": True}]}, "participants[0].person_id"),
        ("stages", {"name": "S", "pipeline_id": "abc"}, "pipeline_id must be an integer"),
        ("pipelines", {"name": ["Main"]}, "name must be a string"),
        ("dealFields", {"field_name": "F", "field_type": "varchar", "options": {}}, "options"),
    ],
)
def test_v2_refuses_wrong_types_naming_the_property(
    api: httpx.Client, kind: str, body: dict[str, Any], named: str
) -> None:
    answer = api.post(f"/v2/{kind}", json=body)
    assert named in is_envelope(answer, 400)["error"]
    if kind in {"persons", "organizations", "deals", "activities", "pipelines", "stages"}:
        assert listed(api, kind) == []


def test_a_wrong_type_on_patch_changes_nothing(api: httpx.Client) -> None:
    person = create(api, "persons", {"name": "A", "label_ids": [1]})
    answer = api.patch(f"/v2/persons/{person['id']}", json={"name": "B", "label_ids": "x"})
    assert "label_ids" in is_envelope(answer, 400)["error"]
    stored = api.get(f"/v2/persons/{person['id']}").json()["data"]
    assert (stored["name"], stored["label_ids"]) == ("A", [1])


def test_null_clears_and_whole_numbers_pass_as_integers(api: httpx.Client) -> None:
    org = create(api, "organizations", {"name": "O"})
    person = create(api, "persons", {"name": "A", "org_id": org["id"], "visible_to": 3.0})
    assert person["visible_to"] == 3
    cleared = api.patch(f"/v2/persons/{person['id']}", json={"org_id": None})
    assert cleared.json()["data"]["org_id"] is None


# --- sorting and the updated window ---------------------------------------------------------------
def _stamp(sandbox: SandboxHandle, kind: str, record_id: int, **times: str) -> None:
    """Give a record known time stamps (the sandbox stamps by the second, tests run faster)."""
    store = sandbox.sandbox.store
    record = store.get(kind, record_id)
    assert record is not None
    store.put(kind, {**record, **times})


def test_v2_lists_honour_sort_by_and_sort_direction(
    sandbox: SandboxHandle, api: httpx.Client
) -> None:
    made = [create(api, "persons", {"name": n}) for n in ("A", "B", "C", "D", "E")]
    times = ["2024-03-01T10:00:00Z", "2024-01-01T10:00:00Z", "2024-05-01T10:00:00Z",
             "2024-02-01T10:00:00Z", "2024-04-01T10:00:00Z"]  # fmt: skip
    for rec, t in zip(made, times, strict=True):
        _stamp(sandbox, "persons", rec["id"], update_time=t, add_time=t.replace("2024", "2023"))

    def names(**params: Any) -> str:
        return "".join(p["name"] for p in listed(api, "persons", limit=2, **params))

    assert names() == "ABCDE"
    assert names(sort_direction="desc") == "EDCBA"
    assert names(sort_by="update_time") == "BDAEC"
    assert names(sort_by="update_time", sort_direction="desc") == "CEADB"
    assert names(sort_by="add_time", sort_direction="asc") == "BDAEC"
    is_envelope(api.get("/v2/persons", params={"sort_by": "name"}), 400)
    is_envelope(api.get("/v2/persons", params={"sort_direction": "sideways"}), 400)
    # a cursor belongs to its order: one from another order is refused, not misread
    page = api.get("/v2/persons", params={"limit": 2}).json()
    cursor = page["additional_data"]["next_cursor"]
    wrong = api.get("/v2/persons", params={"cursor": cursor, "sort_by": "update_time"})
    is_envelope(wrong, 400)


def test_stages_sort_by_order_nr_and_activities_by_due_date(
    sandbox: SandboxHandle, api: httpx.Client
) -> None:
    pipeline = create(api, "pipelines", {"name": "P"})
    for name in ("One", "Two", "Three"):
        create(api, "stages", {"name": name, "pipeline_id": pipeline["id"]})
    ordered = listed(api, "stages", sort_by="order_nr", sort_direction="desc")
    assert [s["name"] for s in ordered] == ["Three", "Two", "One"]
    for subject, due in (("late", "2024-09-01"), ("none", None), ("early", "2024-01-01")):
        create(api, "activities", {"subject": subject, "due_date": due})
    by_due = [a["subject"] for a in listed(api, "activities", sort_by="due_date")]
    assert by_due == ["none", "early", "late"]  # a missing date first, ascending


def test_v2_lists_honour_updated_since_and_until(sandbox: SandboxHandle, api: httpx.Client) -> None:
    made = [create(api, "deals", {"title": t}) for t in ("Jan", "Feb", "Mar", "Apr")]
    for rec, month in zip(made, ("01", "02", "03", "04"), strict=True):
        _stamp(sandbox, "deals", rec["id"], update_time=f"2024-{month}-15T12:00:00Z")

    def titles(**params: Any) -> list[str]:
        return [d["title"] for d in listed(api, "deals", limit=1, **params)]

    assert titles(updated_since="2024-02-15T12:00:00Z") == ["Feb", "Mar", "Apr"]  # inclusive
    assert titles(updated_until="2024-03-15T12:00:00Z") == ["Jan", "Feb"]  # exclusive
    assert titles(updated_since="2024-02-01T00:00:00Z", updated_until="2024-04-01T00:00:00Z") == [
        "Feb", "Mar",
    ]  # fmt: skip
    # RFC 3339 offsets are instants: 14:00+02:00 is 12:00Z
    assert titles(updated_since="2024-04-15T14:00:00+02:00") == ["Apr"]
    assert titles(updated_since="2024-02-01T00:00:00Z", sort_direction="desc") == [
        "Apr", "Mar", "Feb",
    ]  # fmt: skip
    is_envelope(api.get("/v2/deals", params={"updated_since": "last tuesday"}), 400)


# --- the declared bodies are the spec's -----------------------------------------------------------
#: v2 operations with a JSON object body whose handler checks it itself (see ``bodies``).
SELF_CHECKED = {
    ("PATCH", "/personFields/{field_code}"),
    ("PATCH", "/organizationFields/{field_code}"),
    ("PATCH", "/dealFields/{field_code}"),
}


def _spec(version: str) -> dict[str, Any]:
    for folder in SPEC_DIRS:
        path = folder / f"pipedrive-{version}-openapi.yml"
        if path.exists():
            document: dict[str, Any] = yaml.load(
                path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader
            )
            return document
    pytest.skip("Pipedrive's OpenAPI specs are not beside this checkout")


def compact(document: dict[str, Any], schema: Any) -> Any:
    """A spec schema in ``bodies``' notation."""
    while isinstance(schema, dict) and "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(compact(document, part))
        return merged
    if "oneOf" in schema or "anyOf" in schema:
        return "any"
    if schema.get("type") == "array":
        return [compact(document, schema.get("items", {}))]
    if schema.get("type") == "object" or "properties" in schema:
        props = {k: compact(document, v) for k, v in (schema.get("properties") or {}).items()}
        if not props:
            return "object"
        if schema.get("additionalProperties") not in (None, False):
            props["*"] = "any"
        return props
    return schema.get("type", "any")


def test_the_checked_bodies_are_the_v2_specs() -> None:
    document = _spec("v2")
    for (method, path), declared in BODIES.items():
        media = document["paths"][path][method.lower()]["requestBody"]["content"]
        assert compact(document, media["application/json"]["schema"]) == declared, (method, path)
    served = {
        (m, re.sub(r"\{[^}/]+\}", "{}", r.path.removeprefix("/api/v2")))
        for r in build_routes()
        if r.path.startswith("/api/v2/")
        for m in r.methods or ()
    }
    unchecked = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            if (method.upper(), re.sub(r"\{[^}/]+\}", "{}", path)) not in served:
                continue
            media = ((op.get("requestBody") or {}).get("content") or {}).get("application/json")
            if media and isinstance(compact(document, media["schema"]), dict):
                key = (method.upper(), path)
                if key not in BODIES and key not in SELF_CHECKED:
                    unchecked.append(key)
    assert unchecked == [], "served v2 bodies neither in bodies.BODIES nor SELF_CHECKED"
