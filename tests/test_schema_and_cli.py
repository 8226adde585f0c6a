"""The export schema is consistent with itself, and the CLI shell starts."""

from typer.testing import CliRunner

from flitstack import __version__
from flitstack.cli import app
from flitstack.source.schema import FILES, Kind, spec_for


def test_every_reference_points_at_a_known_file_with_an_id() -> None:
    for spec in FILES.values():
        for col in spec.columns:
            if col.kind is Kind.REF:
                assert col.ref in FILES, f"{spec.name}.{col.name} → {col.ref}"
                assert FILES[col.ref].id_column, f"{col.ref} has no id column"


def test_enum_columns_declare_their_values() -> None:
    for spec in FILES.values():
        for col in spec.columns:
            assert (col.kind is Kind.ENUM) == bool(col.values), f"{spec.name}.{col.name}"


def test_spec_for_accepts_names_with_and_without_extension() -> None:
    assert spec_for("patients.csv") is FILES["patients"]
    assert spec_for("export/Patients.CSV") is FILES["patients"]
    assert spec_for("unknown.csv") is None


def test_cli_prints_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == __version__
