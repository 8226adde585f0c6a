"""The sandbox's custom fields behave like Pipedrive's when they go away."""

from __future__ import annotations

import asyncio

from flitstack.pipedrive.client import PipedriveClient
from flitstack.sandbox.server import SandboxConfig, running_sandbox


def test_deleting_a_field_removes_its_values_from_every_record() -> None:
    with running_sandbox(SandboxConfig()) as sb:

        async def go() -> tuple[dict, dict, dict]:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                field = await pd.create_field("person", "Chart number", "varchar")
                code = field["field_code"]
                kept = await pd.create_field("person", "Kept", "varchar")
                person = await pd.create(
                    "persons",
                    {"name": "A", "custom_fields": {code: "C-1", kept["field_code"]: "k"}},
                )
                gone = (await pd.request("DELETE", f"/v2/personFields/{code}"))["data"]
                return gone, await pd.get("persons", person["id"]), kept

        gone, person, kept = asyncio.run(go())
    assert gone["field_name"] == "Chart number"
    assert person["custom_fields"] == {kept["field_code"]: "k"}
