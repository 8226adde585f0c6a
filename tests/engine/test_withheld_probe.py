"""The withheld-data proof looks for source values in the values read back, never in field
keys, and tells a coincidental date or amount from one sent: it must find what was sent and
nothing else, whatever hash keys and timestamps the account happens to hold."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from flitstack.api import Migrator
from flitstack.engine.records import Setup
from flitstack.engine.withheld import _found, _probe, prove_withheld
from flitstack.mapping.protection import CATEGORIES, Protection
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import load_workbook
from flitstack.project import Project
from flitstack.settings import Settings
from flitstack.source.generator import generate_export

PAYMENT_DAY = "a" * 40  # hash key of last_payment_date__c in the made-up account
VISIT_DAY = "b" * 40


def _withhold_all() -> Protection:
    return Protection(
        profile="us-hipaa",
        decisions={
            c.name: {"proposed": "withhold", "decision": "withhold", "reason": "test"}
            for c in CATEGORIES
        },
    )


def _person(**custom: Any) -> dict[str, Any]:
    return {"name": "Pat Example", "update_time": "2026-11-26T00:32:47Z",
            "custom_fields": custom}  # fmt: skip


@given(st.text(alphabet="0123456789abcdef", min_size=40, max_size=40))
def test_digits_in_a_field_key_are_never_a_value(key: str) -> None:
    record = _person(**{key: "x"})
    for value in (key[:12], key[-10:], key[5:16]):
        assert not _found(_probe(value), record, None)


def test_an_id_is_found_reformatted_but_not_across_two_values() -> None:
    assert _found(_probe("(884) 243-0014"), {"phones": [{"value": "+18842430014"}]}, None)
    # the digits of two neighbouring values are not one value
    assert not _found(_probe("ID 5512025"), {"a": "55", "b": "12025"}, None)
    assert _found(_probe("Insurance payment"), {"a": "Insurance Payment x"}, None)


def test_a_date_or_amount_counts_only_in_its_own_field() -> None:
    record = _person(**{VISIT_DAY: "2021-03-18", PAYMENT_DAY: "2020-01-02"})
    fields = frozenset({PAYMENT_DAY})
    assert not _found(_probe("2021-03-18"), record, fields)  # the visit's day: a coincidence
    assert _found(_probe("2021-03-18"), record, None)  # without the map: counted
    assert _found(_probe("01/02/2020"), record, fields)  # a US date, stored as ISO
    money = _person(**{PAYMENT_DAY: {"value": -45.0, "currency": "USD"}, VISIT_DAY: 45})
    assert _found(_probe("(45.00)"), money, fields)
    assert not _found(_probe("45.00"), money, fields)


def test_the_proof_finds_a_ledger_day_in_its_field_and_not_on_the_visit_field(
    tmp_path: Path,
) -> None:
    export = tmp_path / "export"
    generate_export(export, 3, seed=21)
    project = Project(
        root=tmp_path, settings=Settings(protection_profile="us-hipaa"),
        workbook=tmp_path / "m.yaml", state=tmp_path / "s.sqlite", reports=tmp_path / "reports",
    )  # fmt: skip
    Migrator(project, token="unused").propose(export)
    wb = load_workbook(tmp_path / "m.yaml")
    setup = Setup(fields={("person", "last_payment_date__c"): {"key": PAYMENT_DAY}})
    with (export / "ledger_entries.csv").open(newline="", encoding="utf-8") as fh:
        entry = next(csv.DictReader(fh))
    # the patient's record holds the payment's day on another field, and digits of it in keys
    day, patient = entry["EntryDate"], entry["PatientID"]
    digits = "".join(c for c in day if c.isdigit())
    innocent = _person(**{VISIT_DAY: day, f"{digits}{'c' * (40 - len(digits))}": "y"})
    proofs = prove_withheld(export, Bindings.from_workbook(wb), _withhold_all(),
                            {f"patients:{patient}": innocent}, wb, setup)  # fmt: skip
    financial = next(p for p in proofs if p.category == "financial")
    assert financial.values_checked > 0 and financial.found == 0, financial.where
    leaked = _person(**{PAYMENT_DAY: day})
    proofs = prove_withheld(export, Bindings.from_workbook(wb), _withhold_all(),
                            {f"patients:{patient}": leaked}, wb, setup)  # fmt: skip
    financial = next(p for p in proofs if p.category == "financial")
    assert financial.found >= 1 and not financial.clean
    assert any(f"ledger_entries.EntryDate of ledger_entries:{entry['EntryID']}" in w
               for w in financial.where)  # fmt: skip
