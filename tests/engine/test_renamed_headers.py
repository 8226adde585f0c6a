"""The confirmed map drives every read: an export whose headers differ lands the same account.

One generated export is written twice: with the MDC format's headers, and with its headers
renamed, reordered and extended in styles of this test's own (tests/support/renamer.py). Each is
audited, proposed, corrected where flagged wrong, confirmed and fully migrated into its own
sandbox. The two accounts must hold the same content (ids and hash keys replaced by what they
stand for), the load summaries must match, and every person must carry the patient's own ID.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from flitstack.engine.migration import LoadSummary, Migration
from flitstack.engine.state import StateStore
from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.known import field_label
from flitstack.mapping.propose import propose_map, set_role
from flitstack.mapping.workbook import Workbook, save_workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source.generator import generate_export
from flitstack.source.schema import FILES
from tests.support.accounts import content
from tests.support.renamer import EXTRAS, rename_export

SETTINGS = Settings(timezone="America/Chicago")


def _truth(renames: dict[str, dict[str, str]], file: str, header: str) -> str | None:
    """The MDC column a header of the renamed export really stands for (what a person knows)."""
    inverse = {v: k for k, v in renames.get(file, {}).items()}
    if header in inverse:
        return inverse[header]
    spec = FILES.get(file)
    return header if spec is not None and spec.column(header) is not None else None


def _review(wb: Workbook, renames: dict[str, dict[str, str]]) -> list[str]:
    """What a careful person does with the proposal: correct the entries flagged for review
    that are wrong. An entry placed wrongly *without* a review flag is a defect of the
    proposal, so the test fails on it instead of correcting it."""
    corrected = []
    for c in list(wb.columns):
        truth = _truth(renames, c.file, c.column)
        if c.role == truth:
            continue
        assert c.review, f"{c.file}.{c.column} placed as {c.role} (is {truth}) without review"
        set_role(wb, c.file, c.column, truth)
        corrected.append(f"{c.file}.{c.column}")
    return corrected


def _migrate(export: Path, workbook: Path, state: Path) -> tuple[LoadSummary, Any]:
    config = SandboxConfig(burst_limit=1000, search_burst_limit=1000, seed=11)
    with running_sandbox(config) as sb:

        async def go() -> LoadSummary:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                m = Migration(export, workbook, StateStore(state), pd, SETTINGS)
                return await m.migrate()

        summary = asyncio.run(go())
        return summary, sb.dump()


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("renamed-e2e")
    canonical = root / "canonical"
    generate_export(canonical, 40, seed=21)
    renamed = root / "renamed"
    renames = rename_export(canonical, renamed)
    out: dict[str, Any] = {"canonical": canonical, "renamed": renamed}
    for name, export in (("canonical", canonical), ("renamed", renamed)):
        wb = propose_map(export, SETTINGS)
        out[f"{name}_corrected"] = _review(wb, renames)
        extras = [c for c in wb.columns if c.role is None and c.migrate]
        out[f"{name}_extra_fields"] = {c.custom.name for c in extras if c.custom}
        out[f"{name}_extra_lines"] = {c.options["label"] for c in extras if c.field == "note_line"}
        path = save_workbook(wb, root / f"{name}-map.yaml")
        confirm_workbook(path, "test", protection_as_proposed=True)
        out[f"{name}_summary"], out[f"{name}_dump"] = _migrate(
            export, path, root / f"{name}.sqlite"
        )
    return out


def test_the_proposal_places_every_renamed_column_or_flags_it(both: dict[str, Any]) -> None:
    assert both["canonical_corrected"] == []
    # every correction a person had to make was flagged for review (asserted in _review)
    assert len(both["renamed_corrected"]) <= 5


def test_both_exports_land_the_same_account(both: dict[str, Any]) -> None:
    # a custom field is named by its readable label, or by its key where labels would clash
    extra_fields = both["renamed_extra_fields"] | {
        field_label(n) for n in both["renamed_extra_fields"]
    }
    lines = both["renamed_extra_lines"]
    assert len(both["renamed_extra_fields"]) + len(lines) == sum(len(v) for v in EXTRAS.values())
    renamed = content(both["renamed_dump"])
    canonical = content(both["canonical_dump"])
    for kind in renamed:
        for record in renamed[kind]:
            custom = record.get("custom_fields")
            if isinstance(custom, dict):
                for name in extra_fields:
                    custom.pop(name, None)
            if kind == "activities":  # the extra appointment column went into the note
                for label in lines:
                    pattern = rf"(<br>)?{re.escape(label)}: [^<]*"
                    record["note"] = re.sub(pattern, "", record["note"])
                record["note"] = record["note"].replace("<p></p>", "")
        if kind.endswith("Fields"):
            renamed[kind] = [f for f in renamed[kind] if f["field_name"] not in extra_fields]
        renamed[kind] = sorted(renamed[kind], key=lambda r: json.dumps(r, sort_keys=True))
    assert sum(len(v) for v in canonical.values()) > 300
    for kind in canonical:
        mine = [json.dumps(r, sort_keys=True) for r in renamed[kind]]
        theirs = [json.dumps(r, sort_keys=True) for r in canonical[kind]]
        only = sorted(set(mine) ^ set(theirs))[:2]
        assert sorted(mine) == sorted(theirs), f"{kind}: {only}"


def test_the_load_summaries_match_and_account_for_every_row(both: dict[str, Any]) -> None:
    a, b = both["canonical_summary"].as_dict(), both["renamed_summary"].as_dict()
    assert a == b
    assert a["unaccounted"] == {}
    for file in ("appointments", "clinical_notes", "treatment_plans", "recalls"):
        assert a["migrated"].get(file, 0) + a["merged"].get(file, 0) > 0, file


def test_persons_carry_the_patients_own_ids(both: dict[str, Any]) -> None:
    with (both["renamed"] / "patients.csv").open(encoding="utf-8", errors="replace") as fh:
        ids = {r["Patient #"].strip() for r in csv.DictReader(fh)}
    dump = both["renamed_dump"]
    code = next(f["field_code"] for f in dump["personFields"]
                if f["field_name"] == field_label("mdc_source_id__c"))  # fmt: skip
    landed = {p["custom_fields"][code] for p in dump["persons"]}
    assert landed, "no person landed"
    assert all(v.startswith("patients:") for v in landed)
    assert {v.split(":", 1)[1] for v in landed} <= ids
    assert not any(v.count(":") > 1 for v in landed)


def test_extra_columns_land_as_their_own_fields(both: dict[str, Any]) -> None:
    dump = both["renamed_dump"]
    names = {f["field_name"] for f in dump["personFields"] + dump["dealFields"]}
    assert all(n in names or field_label(n) in names for n in both["renamed_extra_fields"])
    # the practice's own property keeps its field
    assert "chair_preference_2__c" in names or field_label("chair_preference_2__c") in names
    notes = [a["note"] for a in dump["activities"]]
    assert sum("Confirmed Via: " in n for n in notes) >= len(notes) // 2
