"""`map confirm` refuses a workbook that names things that do not exist, listing every problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from flitstack.mapping.confirm import confirm_workbook, confirmation_path, require_confirmed
from flitstack.mapping.propose import propose_map
from flitstack.mapping.validate import WorkbookValidationError, validate_workbook
from flitstack.mapping.workbook import ColumnMap, Workbook, WorkbookError, save_workbook

NAME = "flitstack-map.yaml"


@pytest.fixture(scope="module")
def proposal(export_dir: Path) -> Workbook:
    return propose_map(export_dir)


def _column(wb: Workbook, file: str, column: str) -> ColumnMap:
    found = wb.column_map(file, column)
    assert found is not None
    return found


def _refused(wb: Workbook, tmp_path: Path, break_it: Callable[[Workbook], None]) -> list[str]:
    broken = wb.model_copy(deep=True)
    break_it(broken)
    path = save_workbook(broken, tmp_path / NAME)
    with pytest.raises(WorkbookValidationError) as info:
        confirm_workbook(path, "Dr. Reviewer", protection_as_proposed=True)
    assert isinstance(info.value, WorkbookError)
    assert not confirmation_path(path).exists(), "a refused workbook is never confirmed"
    assert str(info.value).count("\n") == len(info.value.problems)
    return info.value.problems


def test_untouched_proposal_confirms(proposal: Workbook, tmp_path: Path) -> None:
    validate_workbook(proposal)
    path = save_workbook(proposal, tmp_path / NAME)
    confirmation = confirm_workbook(path, "Dr. Reviewer", protection_as_proposed=True)
    assert require_confirmed(path).digest == confirmation.digest


def test_unknown_transform_is_named_with_the_valid_ones(proposal: Workbook, tmp_path: Path) -> None:
    def break_it(wb: Workbook) -> None:
        _column(wb, "appointments", "StartDateTime").transform = "dat"

    [line] = _refused(proposal, tmp_path, break_it)
    assert line.startswith(f"{NAME}: appointments.StartDateTime: unknown transform 'dat' (valid: ")
    valid = line.split("(valid: ")[1].rstrip(")").split(", ")
    assert {"date", "datetime", "ref", "provider_name", "location_name", "value_map"} <= set(valid)


def test_unknown_target(proposal: Workbook, tmp_path: Path) -> None:
    def break_it(wb: Workbook) -> None:
        _column(wb, "patients", "Email").target = "persn"

    [line] = _refused(proposal, tmp_path, break_it)
    assert "patients.Email: unknown target 'persn'" in line
    assert "person, organization, deal, activity" in line


def test_unknown_field(proposal: Workbook, tmp_path: Path) -> None:
    def break_it(wb: Workbook) -> None:
        _column(wb, "patients", "Email").field = "email_adress"

    [line] = _refused(proposal, tmp_path, break_it)
    assert "patients.Email: unknown person field 'email_adress'" in line
    assert "emails" in line and "phones" in line


def test_unknown_option(proposal: Workbook, tmp_path: Path) -> None:
    def break_it(wb: Workbook) -> None:
        _column(wb, "patients", "HomePhone").options["lable"] = "home"

    [line] = _refused(proposal, tmp_path, break_it)
    assert "patients.HomePhone: unknown option 'lable'" in line
    assert "label" in line and "region" in line


def test_value_map_to_a_stage_that_does_not_exist(proposal: Workbook, tmp_path: Path) -> None:
    def break_it(wb: Workbook) -> None:
        vm = wb.value_map("lab_case_status")
        assert vm is not None
        vm.values["Delivered"] = "Shipped"

    [line] = _refused(proposal, tmp_path, break_it)
    assert line.startswith(f"{NAME}: value map lab_case_status: 'Delivered' → 'Shipped'")
    assert "In lab, Returned, Re-case, Delivered" in line


def test_every_problem_is_listed_at_once(proposal: Workbook, tmp_path: Path) -> None:
    def break_it(wb: Workbook) -> None:
        _column(wb, "appointments", "StartDateTime").transform = "dat"
        _column(wb, "patients", "Email").target = "persn"  # the loader alone stops here
        vm = wb.value_map("appointment_status")
        assert vm is not None
        vm.target = "finished"
        wb.value_maps.append(vm.model_copy(update={"name": "extra", "column": "Nope"}))

    problems = _refused(proposal, tmp_path, break_it)
    assert len(problems) == 5, problems
    assert any("unknown value-map target 'finished'" in p for p in problems)
    assert any("appointments.Nope is not in the workbook's columns" in p for p in problems)


def test_ten_thousand_columns_validate(proposal: Workbook) -> None:
    wb = proposal.model_copy(deep=True)
    template = _column(wb, "patients", "DateOfBirth")
    wb.columns.extend(template.model_copy(update={"column": f"Extra {n}"}) for n in range(10_000))
    validate_workbook(wb)
    wb.columns[-1].transform = "dat"
    with pytest.raises(WorkbookValidationError, match="Extra 9999: unknown transform 'dat'"):
        validate_workbook(wb)
