"""Fixtures for the mapping tests: a generated export, and a copy with renamed columns."""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

import pytest

from flitstack.source.generator import generate_export

#: Renames a practice's own MDC configuration might produce (file → {known: renamed}).
RENAMES: dict[str, dict[str, str]] = {
    "patients": {
        "PatientID": "Patient #",
        "FirstName": "Pt_First",
        "LastName": "Pt_Last",
        "MiddleInitial": "MI",
        "PreferredName": "Nickname",
        "DateOfBirth": "DOB",
        "Gender": "Sex",
        "Email": "E-mail Address",
        "HomePhone": "Home Tel",
        "MobilePhone": "Cell #",
        "WorkPhone": "Work Phone",
        "Address1": "Street",
        "Address2": "Apt/Suite",
        "City": "Town",
        "State": "Province",
        "Zip": "Postal Code",
        "Status": "Pt Status",
        "GuarantorID": "Responsible Party",
        "PrimaryProviderID": "Dentist",
        "HygienistID": "RDH",
        "HomeLocationID": "Home Office",
        "FirstVisitDate": "First Seen",
        "MarketingOptIn": "Email Opt-In",
        "CreatedAt": "Date Created",
        "ModifiedAt": "Last Modified",
    },
    "treatment_plans": {
        "TreatmentPlanID": "Plan ID",
        "PatientID": "Patient",
        "Title": "Plan Title",
        "Status": "Plan Status",
        "TotalFee": "Total Amt",
        "ProviderID": "Prov",
        "CreatedDate": "Date Created",
        "AcceptedDate": "Accepted On",
    },
}
#: Extra columns nobody told the proposer about: (file, header, value maker).
EXTRAS = {"patients": ["Chair Preference", "Referred By"]}


def rename_export(src: Path, dst: Path, seed: int = 7) -> None:
    """Copy an export, renaming and reshuffling columns and adding unknown ones."""
    shutil.copytree(src, dst)
    rng = random.Random(seed)
    for file, renames in RENAMES.items():
        path = dst / f"{file}.csv"
        raw = path.read_bytes()
        encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
        with path.open(encoding=encoding, newline="") as fh:
            rows = list(csv.reader(fh))
        header = [renames.get(h, h) for h in rows[0]]
        extras = EXTRAS.get(file, [])
        order = list(range(len(header)))
        rng.shuffle(order)
        with path.open("w", encoding=encoding, newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([header[i] for i in order] + extras)
            for n, row in enumerate(rows[1:]):
                row = row + [""] * (len(header) - len(row))
                extra = [["Window", "Hallway", "No preference"][n % 3], f"Dr. Ref {n % 40}"]
                writer.writerow([row[i] for i in order] + extra[: len(extras)])


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mapping") / "export"
    generate_export(out, 120, seed=3)
    return out


@pytest.fixture(scope="session")
def renamed_export(export_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("renamed") / "export"
    rename_export(export_dir, dst)
    return dst
