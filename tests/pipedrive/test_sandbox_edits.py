"""The sandbox's edits of fields, options, pipelines and stages, and its list and search filters,
where they go beyond the happy paths the official Node client exercises."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flitstack.sandbox.server import SandboxConfig, running_sandbox


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    with running_sandbox(SandboxConfig(burst_limit=10_000, search_burst_limit=10_000)) as sb:
        headers = {"x-api-token": sb.api_token}
        with httpx.Client(base_url=sb.base_url, headers=headers) as client:
            yield client


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


def test_field_edits_and_option_deletes_reach_the_records(api: httpx.Client) -> None:
    field = data(api.post("/v2/personFields", json={
        "field_name": "Insurance", "field_type": "set",
        "options": [{"label": "Delta"}, {"label": "Aetna"}],
    }))  # fmt: skip
    code, (delta, aetna) = field["field_code"], field["options"]
    person = data(api.post("/v2/persons", json={
        "name": "Ann", "custom_fields": {code: [delta["id"], aetna["id"]]},
    }))  # fmt: skip
    gone = data(
        api.request("DELETE", f"/v2/personFields/{code}/options", json=[{"id": delta["id"]}])
    )
    assert gone == [{"id": delta["id"], "label": "Delta"}]
    assert data(api.get(f"/v2/persons/{person['id']}"))["custom_fields"] == {code: [aetna["id"]]}
    # the v1 list shows the same field, with its remaining option
    v1 = data(api.get("/v1/personFields"))
    assert [f["options"] for f in v1 if f["key"] == code] == [[aetna]]
    # a dialog's order is the system's: the next free one when shown
    shown = data(api.patch(f"/v2/personFields/{code}", json={
        "ui_visibility": {"show_in_add_deal_dialog": {"show": True, "order": 99}},
    }))  # fmt: skip
    assert shown["ui_visibility"]["show_in_add_deal_dialog"] == {"show": True, "order": 1}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("PATCH", "/v2/personFields/name", {"field_name": "N"}, 400, "system field"),
        ("PATCH", "/v2/personFields/nope", {"field_name": "N"}, 404, "Field not found"),
        ("PATCH", "/v2/personFields/{code}", {}, 400, "At least one field"),
        ("PATCH", "/v2/personFields/{code}", {"field_type": "set"}, 400, "cannot be changed"),
        ("PATCH", "/v2/personFields/{code}", {"field_name": ""}, 400, "field_name"),
        ("PATCH", "/v2/personFields/{code}",
         {"important_fields": {"enabled": True, "stage_ids": [999]}}, 400, "stage 999"),
        ("POST", "/v2/personFields/{code}/options", [{"label": "X"}], 400, "has no options"),
        ("POST", "/v2/personFields/{enum}/options", [], 400, "non-empty array"),
        ("POST", "/v2/personFields/{enum}/options", [{"label": "A"}], 400, "already exists"),
        ("PATCH", "/v2/personFields/{enum}/options", [{"id": 999, "label": "Z"}], 400, "999"),
        ("DELETE", "/v2/personFields/{enum}/options", [{"id": "1"}], 400, "integer"),
        ("PATCH", "/v2/stages/1", {"deal_probability": 101}, 400, "0 to 100"),
        ("PATCH", "/v2/stages/1", {"pipeline_id": 999}, 400, "pipeline_id 999"),
        ("PATCH", "/v2/pipelines/1", {"name": " "}, 400, "Name"),
        ("PATCH", "/v2/pipelines/1", {"is_deal_probability_enabled": "yes"}, 400, "boolean"),
        ("GET", "/v2/deals/search?term=ab&status=deleted", None, 400, "status"),
        ("GET", "/v2/persons/search?term=ab&organization_id=x", None, 400, "organization_id"),
        ("GET", "/v2/activities?done=maybe", None, 400, "done"),
        ("GET", "/v1/users/999", None, 404, "User not found"),
        ("GET", "/v1/files/999/download", None, 404, "File not found"),
    ],
)  # fmt: skip
def test_refusals_are_pipedrive_errors(
    api: httpx.Client, method: str, path: str, body: Any, status: int, error: str
) -> None:
    text = data(api.post("/v2/personFields", json={"field_name": "T", "field_type": "varchar"}))
    enum = data(api.post("/v2/personFields", json={
        "field_name": "E", "field_type": "enum", "options": [{"label": "A"}],
    }))  # fmt: skip
    pipeline = data(api.post("/v2/pipelines", json={"name": "P"}))
    data(api.post("/v2/stages", json={"name": "S", "pipeline_id": pipeline["id"]}))
    url = path.format(code=text["field_code"], enum=enum["field_code"])
    answer = api.request(method, url, json=body) if body is not None else api.request(method, url)
    assert answer.status_code == status, answer.text
    envelope = answer.json()
    assert envelope["success"] is False and error in envelope["error"], envelope


def test_a_stage_moved_to_another_pipeline_takes_its_deals(api: httpx.Client) -> None:
    first = data(api.post("/v2/pipelines", json={"name": "Hygiene"}))
    second = data(api.post("/v2/pipelines", json={"name": "Ortho"}))
    data(api.post("/v2/stages", json={"name": "Booked", "pipeline_id": second["id"]}))
    stage = data(api.post("/v2/stages", json={"name": "Due", "pipeline_id": first["id"]}))
    deal = data(api.post("/v2/deals", json={"title": "Recall", "stage_id": stage["id"]}))
    moved = data(api.patch(f"/v2/stages/{stage['id']}", json={"pipeline_id": second["id"]}))
    assert moved["pipeline_id"] == second["id"] and moved["order_nr"] == 2
    assert data(api.get(f"/v2/deals/{deal['id']}"))["pipeline_id"] == second["id"]


def test_list_and_search_filters(api: httpx.Client) -> None:
    org = data(api.post("/v2/organizations", json={"name": "Clinic"}))
    ann = data(api.post("/v2/persons", json={"name": "Ann Smith", "org_id": org["id"]}))
    data(api.post("/v2/persons", json={"name": "Bob Smith"}))
    found = data(api.get("/v2/persons/search", params={"term": "Smith"}))["items"]
    assert len(found) == 2
    found = data(api.get("/v2/persons/search", params={"term": "Smith", "organization_id": 999}))
    assert found["items"] == []  # a filter naming nothing finds nothing
    found = data(
        api.get("/v2/persons/search", params={"term": "Smith", "organization_id": org["id"]})
    )
    assert [i["item"]["id"] for i in found["items"]] == [ann["id"]]
    lost = data(api.post("/v2/deals", json={"title": "Veneers", "status": "lost"}))
    data(api.post("/v2/deals", json={"title": "Veneers too", "person_id": ann["id"]}))
    found = data(api.get("/v2/deals/search", params={"term": "Veneers", "status": "lost"}))
    assert [i["item"]["id"] for i in found["items"]] == [lost["id"]]
    assert [d["id"] for d in data(api.get("/v2/deals", params={"status": "lost"}))] == [lost["id"]]
