"""The map proposal on a generated and a renamed export, the workbook, and the confirmation gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from flitstack.mapping.confirm import MapNotConfirmed, confirm_workbook, require_confirmed
from flitstack.mapping.known import RULES
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import REVIEW_BELOW, load_workbook, save_workbook
from tests.mapping.conftest import EXTRAS, RENAMES


def _target(c: object) -> tuple[object, ...]:
    custom = getattr(c, "custom", None)
    return (getattr(c, "target", None), getattr(c, "field", None), custom and custom.name)


def test_every_known_column_maps_as_the_spec_says(export_dir: Path) -> None:
    wb = propose_map(export_dir)
    seen = {(c.file, c.column) for c in wb.columns}
    assert seen >= set(RULES)  # nothing dropped
    for c in wb.columns:
        rule = RULES[(c.file, c.column)]
        expected = (rule.target, rule.field, rule.custom.name if rule.custom else None)
        assert _target(c) == expected, c
        assert c.confidence == 1.0 and c.reason
        # a known column is only reviewed when its values fail its transform too often
        assert not c.review or (c.success is not None and c.success < 0.98), c
    assert {p.source for p in wb.custom_properties} >= {"membership_tier", "chair_preference"}
    assert {p.name for p in wb.pipelines} == {"Treatment plans", "Lab cases", "Referrals"}
    assert len(wb.objects) >= 12


def test_renamed_columns_land_on_the_right_target(renamed_export: Path) -> None:
    wb = propose_map(renamed_export)
    right = total = 0
    for file, renames in RENAMES.items():
        original = {new: old for old, new in renames.items()}
        for c in wb.for_file(file):
            if c.column in EXTRAS.get(file, []):
                assert c.review, "an unknown column is always marked for review"
                continue
            total += 1
            rule = RULES[(file, original.get(c.column, c.column))]
            right += _target(c) == (rule.target, rule.field, rule.custom and rule.custom.name)
            if c.confidence < REVIEW_BELOW:
                assert c.review
    assert right / total >= 0.9, f"{right}/{total}"
    chair = next(c for c in wb.for_file("patients") if c.column == "Chair Preference")
    assert chair.custom is not None and chair.custom.field_type == "enum"
    assert chair.custom.options == ["Hallway", "No preference", "Window"]


def test_workbook_round_trip_keeps_comments_and_gate_demands_reconfirmation(
    export_dir: Path, tmp_path: Path
) -> None:
    path = save_workbook(propose_map(export_dir), tmp_path / "map.yaml")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert "# patients.PatientID" in path.read_text()
    with pytest.raises(MapNotConfirmed, match="has not been confirmed"):
        require_confirmed(path)
    confirmation = confirm_workbook(path, "Dr. Reviewer", protection_as_proposed=True)
    assert require_confirmed(path).digest == confirmation.digest
    text = path.read_text().replace("reason: Deal title", "reason: Deal title (edited)", 1)
    path.write_text(text)
    assert load_workbook(path).columns  # still valid
    with pytest.raises(MapNotConfirmed, match=r"edited after Dr\. Reviewer confirmed"):
        require_confirmed(path)
    confirm_workbook(path, "Dr. Reviewer", protection_as_proposed=True)
    require_confirmed(path)
