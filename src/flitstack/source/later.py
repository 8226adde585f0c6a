"""A later export of the same practice: what the front desk changed during the cutover window.

Delta pickup is tested and demonstrated on a copy of an export with realistic edits: patients
who changed phone or e-mail, appointments that were completed, a plan that was accepted, new
patients with a first appointment, and a patient marked Deleted. Each file keeps its original
encoding and line endings, so the later export is as messy as the first. What was edited is
returned, so tests compare the delta's counts exactly.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flitstack.source.reader import detect_encoding


@dataclass
class LaterEdits:
    """Source IDs touched, per file and kind of edit."""

    changed: dict[str, list[str]] = field(default_factory=dict)
    added: dict[str, list[str]] = field(default_factory=dict)
    deleted: dict[str, list[str]] = field(default_factory=dict)


class _Rows:
    """A CSV file's rows; well-formed ones editable by column name, malformed ones kept as is."""

    def __init__(self, path: Path) -> None:
        raw = path.read_bytes()
        self.path, self.encoding = path, detect_encoding(lambda: io.BytesIO(raw))
        self.newline = "\r\n" if b"\r\n" in raw[:4096] else "\n"
        rows = list(csv.reader(io.StringIO(raw.decode(self.encoding), newline="")))
        self.header, self.rows = rows[0], rows[1:]

    def records(self) -> list[dict[str, str]]:
        """Well-formed rows as dicts; write them back with ``put``."""
        width = len(self.header)
        return [dict(zip(self.header, r, strict=True)) for r in self.rows if len(r) == width]

    def put(self, records: list[dict[str, str]], malformed_too: bool = True) -> None:
        width = len(self.header)
        kept = [r for r in self.rows if len(r) != width] if malformed_too else []
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=self.newline)
        writer.writerow(self.header)
        writer.writerows([[rec.get(h, "") for h in self.header] for rec in records] + kept)
        self.path.write_bytes(buffer.getvalue().encode(self.encoding, errors="replace"))


def _load(path: Path) -> tuple[list[str], list[dict[str, str]], _Rows]:
    rows = _Rows(path)
    return rows.header, rows.records(), rows


def make_later_export(
    source: Path, out: Path, seed: int = 7, changes: int = 5, now: datetime | None = None
) -> LaterEdits:
    """Copy ``source`` to ``out`` and apply the edits of a few days of front-desk work."""
    if out.exists():
        shutil.rmtree(out)
    if source.suffix == ".zip":
        with zipfile.ZipFile(source) as archive:
            archive.extractall(out)
        inner = next(out.rglob("patients.csv")).parent
        if inner != out:
            for item in inner.iterdir():
                item.rename(out / item.name)
    else:
        shutil.copytree(source, out)
    rng = random.Random(seed)
    stamp = (now or datetime(2026, 11, 20, 9, 30)).strftime("%Y-%m-%d %H:%M")
    edits = LaterEdits()

    header, patients, patients_file = _load(out / "patients.csv")
    live = [p for p in patients if p["Status"].strip().casefold() not in {"deleted", ""}]
    picked = rng.sample(live, min(changes, max(len(live) - 1, 0)))
    for p in picked[:-1]:
        p["MobilePhone"] = f"(312) 555-{rng.randrange(1000, 9999)}"
        p["ModifiedAt"] = stamp
        edits.changed.setdefault("patients", []).append(p["PatientID"])
    if picked:
        gone = picked[-1]
        gone["Status"] = "Deleted"
        gone["ModifiedAt"] = stamp
        edits.deleted.setdefault("patients", []).append(gone["PatientID"])
    next_id = max(int(p["PatientID"]) for p in patients if p["PatientID"].strip().isdigit()) + 1
    template = live[0]
    new_ids = []
    for i in range(2):
        pid = str(next_id + i)
        new_ids.append(pid)
        patients.append(
            {
                **{k: "" for k in header},
                "PatientID": pid,
                "FirstName": ["Avery", "Jordan"][i],
                "LastName": "Newpatient",
                "Email": f"new.patient{pid}@mail.example.com",
                "MobilePhone": f"(312) 555-01{10 + i}",
                "Status": "Active",
                "GuarantorID": pid,
                "PrimaryProviderID": template["PrimaryProviderID"],
                "HomeLocationID": template["HomeLocationID"],
                "MarketingOptIn": "Y",
                "CreatedAt": stamp,
                "ModifiedAt": stamp,
            }
        )
    edits.added["patients"] = new_ids
    patients_file.put(patients)

    header, appts, appts_file = _load(out / "appointments.csv")
    untouched = {p["PatientID"] for p in picked}
    scheduled = [
        a
        for a in appts
        if a["Status"].strip().casefold() == "scheduled" and a["PatientID"] not in untouched
    ]
    for a in rng.sample(scheduled, min(2, len(scheduled))):
        a["Status"] = "Completed"
        a["ModifiedAt"] = stamp
        edits.changed.setdefault("appointments", []).append(a["AppointmentID"])
    next_appt = max(int(a["AppointmentID"]) for a in appts if a["AppointmentID"].isdigit()) + 1
    for i, pid in enumerate(new_ids):
        aid = str(next_appt + i)
        appts.append(
            {
                **{k: "" for k in header},
                "AppointmentID": aid,
                "PatientID": pid,
                "StartDateTime": "2026-12-02 09:00",
                "DurationMinutes": "60",
                "ProviderID": template["PrimaryProviderID"],
                "LocationID": template["HomeLocationID"],
                "AppointmentType": "Consult",
                "Status": "Scheduled",
                "CreatedAt": stamp,
                "ModifiedAt": stamp,
            }
        )
        edits.added.setdefault("appointments", []).append(aid)
    appts_file.put(appts)

    _, plans, plans_file = _load(out / "treatment_plans.csv")
    proposed = [
        t
        for t in plans
        if t["Status"].strip().casefold() == "proposed" and t["PatientID"] not in untouched
    ]
    if proposed:
        plan = rng.choice(proposed)
        plan["Status"] = "Accepted"
        plan["AcceptedDate"] = (
            datetime.strptime(stamp, "%Y-%m-%d %H:%M") - timedelta(days=1)
        ).strftime("%Y-%m-%d")
        plan["ModifiedAt"] = stamp
        edits.changed["treatment_plans"] = [plan["TreatmentPlanID"]]
    plans_file.put(plans)
    _owner_only(out)
    return edits


def _owner_only(root: Path) -> None:
    """The copy holds patient data: readable by its owner only, like every flitstack output."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
