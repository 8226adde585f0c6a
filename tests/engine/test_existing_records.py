"""A non-empty account: same-e-mail persons and same-name organizations, per duplicate policy."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from flitstack.engine.migration import Migration
from flitstack.engine.state import StateStore
from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import DuplicatePolicy, Settings
from flitstack.source.generator import generate_export
from flitstack.source.reader import Row, open_export


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str, str]:
    root = tmp_path_factory.mktemp("existing")
    export = root / "export"
    generate_export(export, 12, seed=31)
    workbook = save_workbook(
        propose_map(export, Settings(timezone="America/Chicago")), root / "map.yaml"
    )
    confirm_workbook(workbook, "test", protection_as_proposed=True)
    with open_export(export) as source:
        patient = next(
            r
            for r in source.read("patients")
            if isinstance(r, Row)
            and r.values.get("Status") == "Active"
            and not r.problems
            and r.values.get("Email")
        )
        location = next(r for r in source.read("locations") if isinstance(r, Row))
    return (
        export, workbook, str(patient.values["Email"]), str(patient.source_id),
        str(location.values["Name"]),
    )  # fmt: skip


def _seeded(email: str, org: str) -> SandboxConfig:
    return SandboxConfig(
        burst_limit=1000,
        search_burst_limit=1000,
        seed_persons=[{"name": "Kept Name", "emails": [{"value": email.upper(), "primary": True}]}],
        seed_organizations=[{"name": f"  {org.upper()} "}],
    )


@pytest.mark.parametrize("policy", list(DuplicatePolicy))
def test_existing_person_and_org_follow_the_duplicate_policy(
    practice: tuple[Path, Path, str, str, str], tmp_path: Path, policy: DuplicatePolicy
) -> None:
    export, workbook, email, patient_id, location = practice
    settings = Settings(timezone="America/Chicago", duplicate_policy=policy)
    state = tmp_path / "state.sqlite"
    with running_sandbox(_seeded(email, location)) as sb:
        before = sb.dump()
        seeded_person = before["persons"][0]["id"]
        seeded_org = before["organizations"][0]["id"]

        async def run(action: str) -> Any:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                m = Migration(export, workbook, StateStore(state), pd, settings)
                return await getattr(m, action)()

        summary = asyncio.run(run("migrate"))
        assert summary.unaccounted() == {}
        dump = sb.dump()
        same_email = [
            p for p in dump["persons"]
            if any(e["value"].casefold() == email.casefold() for e in p["emails"])
        ]  # fmt: skip
        mapping = StateStore(state).mapping(f"patients:{patient_id}")
        assert mapping is not None
        seeded = next(p for p in dump["persons"] if p["id"] == seeded_person)
        if policy is DuplicatePolicy.CREATE:
            assert len(same_email) == 2
            assert mapping["pd_id"] != seeded_person and mapping["created"]
            assert seeded["name"] == "Kept Name"
        else:
            assert len(same_email) == 1
            assert mapping["pd_id"] == seeded_person and not mapping["created"]
            expected = "Kept Name" if policy is DuplicatePolicy.SKIP else None
            assert (seeded["name"] == "Kept Name") == (expected is not None)
            # the patient's appointments hang on the person that was already there
            assert any(a["person_id"] == seeded_person for a in dump["activities"])
        org_links = [
            o for o in dump["organizations"] if o["name"].strip().casefold() == location.casefold()
        ]
        assert len(org_links) == (2 if policy is DuplicatePolicy.CREATE else 1)
        assert any(o["id"] == seeded_org for o in org_links)
        # "update" patches the same-name organization (its before-image kept); the others leave
        # it exactly as the account had it
        org_before = next(o for o in before["organizations"] if o["id"] == seeded_org)
        org_now = next(o for o in dump["organizations"] if o["id"] == seeded_org)
        assert (org_now["name"] != org_before["name"]) == (policy is DuplicatePolicy.UPDATE)
        images = StateStore(state).before_images()
        assert (("organizations", seeded_org) in {(k, i) for k, i, _ in images}) == (
            policy is DuplicatePolicy.UPDATE
        )

        result = asyncio.run(run("rollback"))
        assert result["differences"] == []
        after = sb.dump()
        assert [(p["id"], p["name"]) for p in after["persons"]] == [(seeded_person, "Kept Name")]
        assert [(o["id"], o["name"]) for o in after["organizations"]] == [
            (seeded_org, org_before["name"])
        ]


def test_a_delta_never_changes_a_matched_persons_consent(
    practice: tuple[Path, Path, str, str, str], tmp_path: Path
) -> None:
    """The account's own person keeps its marketing status through the migration and every
    delta, even when the later export flips the opt-in; rollback restores the rest."""
    import csv
    import shutil

    from flitstack.source.schema import role

    export, workbook, email, patient_id, location = practice
    later = tmp_path / "later"
    shutil.copytree(export, later)
    path = later / "patients.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    ident, opt_in = (
        rows[0].index(role("patients", "patient_id")),
        rows[0].index(role("patients", "marketing_opt_in")),
    )
    flipped = False
    for row in rows[1:]:
        if row[ident] == patient_id:
            row[opt_in] = "No" if row[opt_in].strip().casefold() in {"yes", "y", "1"} else "Yes"
            flipped = True
    assert flipped
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    config = _seeded(email, location)
    config.seed_persons[0]["marketing_status"] = "unsubscribed"
    settings = Settings(timezone="America/Chicago", duplicate_policy=DuplicatePolicy.UPDATE)
    state = tmp_path / "state.sqlite"
    with running_sandbox(config) as sb:
        seeded_person = sb.dump()["persons"][0]["id"]

        async def run(source: Path, action: str, *args: Any) -> Any:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                m = Migration(source, workbook, StateStore(state), pd, settings)
                return await getattr(m, action)(*args)

        asyncio.run(run(export, "migrate"))
        asyncio.run(run(later, "delta", later))
        person = next(p for p in sb.dump()["persons"] if p["id"] == seeded_person)
        assert person["marketing_status"] == "unsubscribed"
        assert asyncio.run(run(export, "rollback"))["differences"] == []
