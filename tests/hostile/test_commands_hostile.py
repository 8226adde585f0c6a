"""A catalogue of broken exports and projects, each run through every command it applies to.

Every outcome is a clear error (the file, and the row or field where there is one) with an exit
code, never a traceback; nothing is written to the account, and nothing outside the export is
read. Cases that are not errors (a UTF-16 export) must simply work.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flitstack.cli import app
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.source.generator import generate_export

runner = CliRunner()
PROJECT = '[practice]\ntimezone = "America/Chicago"\n'


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("good") / "export"
    generate_export(out, 6, seed=5)
    return out


def _rewrite(export: Path, file: str, change: Callable[[str], str]) -> None:
    path = export / file
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")


def _duplicate_header(export: Path) -> None:
    _rewrite(export, "patients.csv", lambda t: t.replace("LastName", "FirstName", 1))


def _bad_manifest(export: Path) -> None:
    (export / "export.json").write_text("{not json", encoding="utf-8")


def _manifest_list(export: Path) -> None:
    (export / "export.json").write_text("[1, 2]", encoding="utf-8")


def _oversized_field(export: Path) -> None:
    lines = (export / "clinical_notes.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[1].split(",")
    cells[-1] = '"' + "x" * (17 * 1024 * 1024) + '"'  # over the reader's 16 MB field limit
    lines[1] = ",".join(cells)
    (export / "clinical_notes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _binary_csv(export: Path) -> None:
    (export / "providers.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64)


def _patients_missing(export: Path) -> None:
    (export / "patients.csv").unlink()


BROKEN_EXPORTS = {
    "malformed export.json": (_bad_manifest, "export.json"),
    "export.json not an object": (_manifest_list, "export.json"),
    "duplicate header": (_duplicate_header, "patients.csv"),
    "field over the size limit": (_oversized_field, "clinical_notes.csv"),
    "binary file named .csv": (_binary_csv, "providers.csv"),
}


def _one_clear_line(result: Result, names: str, codes: tuple[int, ...] = (2, 3)) -> None:
    """An error with its exit code, naming ``names``, and no traceback."""
    assert result.exit_code in codes, result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    assert "Traceback" not in result.output
    flat = " ".join(result.output.split())
    assert names in flat, flat


@pytest.mark.parametrize("case", list(BROKEN_EXPORTS))
def test_broken_exports_get_one_clear_line_from_every_command(
    good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    breaks, named = BROKEN_EXPORTS[case]
    export = tmp_path / "export"
    shutil.copytree(good, export)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flitstack.toml").write_text(PROJECT)
    # a map made before the damage: the account steps must refuse the damaged export too
    assert runner.invoke(app, ["map", "propose", str(export)]).exit_code == 0
    assert (
        runner.invoke(app, ["map", "confirm", "--protection-as-proposed", "--by", "Test"]).exit_code
        == 0
    )
    breaks(export)
    # the audit reads every file: it must refuse; the others refuse or, when they do not read
    # the damaged file, work: never a traceback
    _one_clear_line(runner.invoke(app, ["audit", str(export)]), named)
    for args in (["estimate", str(export)], ["rebuild-reference", str(export)]):
        result = runner.invoke(app, args)
        if result.exit_code != 0:
            _one_clear_line(result, named)
    with running_sandbox(SandboxConfig(burst_limit=1000, search_burst_limit=1000)) as sb:
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", sb.api_token)
        before = sb.dump()
        for command in ("setup", "migrate", "verify"):
            extra = ["--sample", "3"] if command == "migrate" else []
            result = runner.invoke(app, [command, str(export), *extra, "--api-root", sb.base_url])
            if command == "setup" and result.exit_code == 0:
                continue  # setup reads the practice files only, not the damaged one
            _one_clear_line(result, named)
        assert sb.dump()["persons"] == before["persons"]


def test_a_project_without_a_workbook_and_a_workbook_with_control_characters(
    good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flitstack.toml").write_text(PROJECT)
    with running_sandbox(SandboxConfig(burst_limit=1000)) as sb:
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", sb.api_token)
        for command in ("setup", "migrate", "verify", "rollback"):
            result = runner.invoke(app, [command, str(good), "--api-root", sb.base_url])
            _one_clear_line(result, "flitstack-map.yaml")
        assert runner.invoke(app, ["map", "propose", str(good)]).exit_code == 0
        workbook = tmp_path / "flitstack-map.yaml"
        workbook.write_text(workbook.read_text().replace("columns:", "columns:\x00\x1b", 1))
        for args in (["map", "show"], ["map", "confirm", "--protection-as-proposed", "--by", "T"],
                     ["setup", str(good), "--api-root", sb.base_url]):  # fmt: skip
            _one_clear_line(runner.invoke(app, args), "flitstack-map.yaml")
        assert sb.dump()["persons"] == []


def test_a_missing_file_and_a_missing_export_are_named(
    good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flitstack.toml").write_text(PROJECT)
    _one_clear_line(runner.invoke(app, ["audit", str(tmp_path / "nowhere")]), "nowhere")
    _one_clear_line(runner.invoke(app, ["map", "propose", str(tmp_path / "nowhere")]), "nowhere")
    export = tmp_path / "export"
    shutil.copytree(good, export)
    _patients_missing(export)
    result = runner.invoke(app, ["map", "propose", str(export)])
    assert "Traceback" not in result.output


def test_a_utf16_export_is_read_and_its_proposed_map_reads_back(
    good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export"
    shutil.copytree(good, export)
    for csv_file in export.glob("*.csv"):
        csv_file.write_bytes(csv_file.read_text(encoding="utf-8").encode("utf-16"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flitstack.toml").write_text(PROJECT)
    audited = runner.invoke(app, ["audit", str(export)])
    assert audited.exit_code == 0, audited.output
    inventory = json.loads((tmp_path / "export-audit" / "schema-inventory.json").read_text())
    patients = next(f for f in inventory["files"] if f["file"] == "patients")
    assert patients["encoding"].startswith("utf-16") and patients["unknown_columns"] == []
    assert {"PatientID", "FirstName"} <= {c["column"] for c in patients["columns"]}
    assert runner.invoke(app, ["map", "propose", str(export)]).exit_code == 0
    shown = runner.invoke(app, ["map", "show"])
    assert shown.exit_code == 0, shown.output
