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
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flitstack.source.reader import BindingSource, HeaderBinding, _header_map, detect_encoding
from flitstack.source.schema import role, spec_for


class _Patient:
    """The roles of patients.csv the later export edits (bound at import: a typo fails there)."""

    id = role("patients", "patient_id")
    first_name = role("patients", "first_name")
    last_name = role("patients", "last_name")
    email = role("patients", "email")
    mobile_phone = role("patients", "mobile_phone")
    status = role("patients", "status")
    guarantor_id = role("patients", "guarantor_id")
    primary_provider_id = role("patients", "primary_provider_id")
    home_location_id = role("patients", "home_location_id")
    marketing_opt_in = role("patients", "marketing_opt_in")
    created_at = role("patients", "created_at")
    modified_at = role("patients", "modified_at")


class _Appointment:
    """The roles of appointments.csv the later export edits."""

    id = role("appointments", "appointment_id")
    patient_id = role("appointments", "patient_id")
    start_date_time = role("appointments", "start_date_time")
    duration_minutes = role("appointments", "duration_minutes")
    provider_id = role("appointments", "provider_id")
    location_id = role("appointments", "location_id")
    appointment_type = role("appointments", "appointment_type")
    status = role("appointments", "status")
    created_at = role("appointments", "created_at")
    modified_at = role("appointments", "modified_at")


class _Plan:
    """The roles of treatment_plans.csv the later export edits."""

    id = role("treatment_plans", "treatment_plan_id")
    patient_id = role("treatment_plans", "patient_id")
    status = role("treatment_plans", "status")
    accepted_date = role("treatment_plans", "accepted_date")
    modified_at = role("treatment_plans", "modified_at")


@dataclass
class LaterEdits:
    """Source IDs touched, per file and kind of edit."""

    changed: dict[str, list[str]] = field(default_factory=dict)
    added: dict[str, list[str]] = field(default_factory=dict)
    deleted: dict[str, list[str]] = field(default_factory=dict)


class _Rows:
    """A CSV file's rows; well-formed ones editable by role, malformed ones kept as is.

    A role is the MDC column a header stands for (``binding`` from the map; without one the
    headers are matched to the format's names ignoring case and spaces, as the reader does).
    """

    def __init__(self, path: Path, binding: HeaderBinding | None = None) -> None:
        raw = path.read_bytes()
        self.path, self.encoding = path, detect_encoding(lambda: io.BytesIO(raw))
        self.newline = "\r\n" if b"\r\n" in raw[:4096] else "\n"
        rows = list(csv.reader(io.StringIO(raw.decode(self.encoding), newline="")))
        self.header, self.rows = rows[0], rows[1:]
        stem = path.stem
        names = _header_map(stem, self.header, spec_for(stem), binding)
        #: role (or the name an unknown column is read under) → the header as the file spells it
        self.columns = dict(zip(names, self.header, strict=True))

    def column(self, role: str) -> str:
        """The header playing ``role``; a missing one is an error naming file and role."""
        header = self.columns.get(role)
        if header is None:
            raise ValueError(
                f"{self.path.name}: no column plays the role {role} (headers: "
                f"{', '.join(self.header)}), so the later export cannot be made"
            )
        return header

    def records(self) -> list[dict[str, str]]:
        """Well-formed rows as dicts keyed by role; write them back with ``put``."""
        width = len(self.header)
        roles = list(self.columns)
        return [dict(zip(roles, r, strict=True)) for r in self.rows if len(r) == width]

    def new_record(self, values: dict[str, str]) -> dict[str, str]:
        """A record with ``values`` (by role) where the file has those columns, else empty."""
        return {role: values.get(role, "") for role in self.columns}

    def put(self, records: list[dict[str, str]], malformed_too: bool = True) -> None:
        width = len(self.header)
        kept = [r for r in self.rows if len(r) != width] if malformed_too else []
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=self.newline)
        writer.writerow(self.header)
        writer.writerows([[rec.get(role, "") for role in self.columns] for rec in records] + kept)
        self.path.write_bytes(buffer.getvalue().encode(self.encoding, errors="replace"))


def _load(
    path: Path, bindings: BindingSource | None, *roles: str
) -> tuple[list[dict[str, str]], _Rows]:
    rows = _Rows(path, bindings.for_file(path.stem) if bindings is not None else None)
    for needed in roles:
        rows.column(needed)
    return rows.records(), rows


_NUMBERED = re.compile(r"^(.*?)([0-9]+)$")


def new_ids(existing: Iterable[str], count: int) -> list[str]:
    """``count`` IDs no row has yet, in the style of the existing ones.

    Numbers continue after the highest (``41``, ``42``); numbers after a prefix continue after
    the highest with the most common prefix (``A41``; ``P-0042`` when all have four digits);
    anything else gets a suffix (``<highest ID>-new1``).
    """
    taken = {e.strip() for e in existing if e.strip()}
    numbers = [int(e) for e in taken if e.isascii() and e.isdigit()]
    if numbers or not taken:
        start = max(numbers, default=0) + 1
        out = [str(start + i) for i in range(count)]
    else:
        matched = [m for m in map(_NUMBERED.match, taken) if m is not None]
        if matched:
            prefix = Counter(m.group(1) for m in matched).most_common(1)[0][0]
            mine = [m.group(2) for m in matched if m.group(1) == prefix]
            width = len(mine[0]) if len({len(d) for d in mine}) == 1 else 0
            start = max(int(d) for d in mine) + 1
            out = [f"{prefix}{start + i:0{width}d}" for i in range(count)]
        else:
            base = max(taken)
            out = [f"{base}-new{i + 1}" for i in range(count)]
    for i, candidate in enumerate(out):  # never an ID some row already has
        n = 1
        while candidate in taken:
            n += 1
            candidate = f"{out[i]}-{n}"
        out[i] = candidate
        taken.add(candidate)
    return out


def make_later_export(
    source: Path,
    out: Path,
    seed: int = 7,
    changes: int = 5,
    now: datetime | None = None,
    bindings: BindingSource | None = None,
) -> LaterEdits:
    """Copy ``source`` to ``out`` and apply the edits of a few days of front-desk work.

    Columns are found by role through ``bindings`` (the map's; default: the map proposal of
    the files edited), so any export the reader accepts can be edited whatever its headers.
    """
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
    if bindings is None:
        from flitstack.mapping.propose import propose_bindings

        bindings = propose_bindings(out, ("patients", "appointments", "treatment_plans"))
    rng = random.Random(seed)
    stamp = (now or datetime(2026, 11, 20, 9, 30)).strftime("%Y-%m-%d %H:%M")
    edits = LaterEdits()

    patients, patients_file = _load(out / "patients.csv", bindings, _Patient.id, _Patient.status)
    live = [p for p in patients if p[_Patient.status].strip().casefold() not in {"deleted", ""}]
    picked = rng.sample(live, min(changes, max(len(live) - 1, 0)))
    for p in picked[:-1]:
        p[_Patient.mobile_phone] = f"(312) 555-{rng.randrange(1000, 9999)}"
        p[_Patient.modified_at] = stamp
        edits.changed.setdefault("patients", []).append(p[_Patient.id])
    if picked:
        gone = picked[-1]
        gone[_Patient.status] = "Deleted"
        gone[_Patient.modified_at] = stamp
        edits.deleted.setdefault("patients", []).append(gone[_Patient.id])
    template = live[0] if live else {}
    new_patients = new_ids((p[_Patient.id] for p in patients), 2)
    for i, pid in enumerate(new_patients):
        patients.append(
            patients_file.new_record(
                {
                    _Patient.id: pid,
                    _Patient.first_name: ["Avery", "Jordan"][i],
                    _Patient.last_name: "Newpatient",
                    _Patient.email: f"new.patient{pid}@mail.example.com",
                    _Patient.mobile_phone: f"(312) 555-01{10 + i}",
                    _Patient.status: "Active",
                    _Patient.guarantor_id: pid,
                    _Patient.primary_provider_id: template.get(_Patient.primary_provider_id, ""),
                    _Patient.home_location_id: template.get(_Patient.home_location_id, ""),
                    _Patient.marketing_opt_in: "Y",
                    _Patient.created_at: stamp,
                    _Patient.modified_at: stamp,
                }
            )
        )
    edits.added["patients"] = new_patients
    patients_file.put(patients)

    appts, appts_file = _load(
        out / "appointments.csv",
        bindings,
        _Appointment.id,
        _Appointment.patient_id,
        _Appointment.status,
    )
    untouched = {p[_Patient.id] for p in picked}
    scheduled = [
        a
        for a in appts
        if a[_Appointment.status].strip().casefold() == "scheduled"
        and a[_Appointment.patient_id] not in untouched
    ]
    for a in rng.sample(scheduled, min(2, len(scheduled))):
        a[_Appointment.status] = "Completed"
        a[_Appointment.modified_at] = stamp
        edits.changed.setdefault("appointments", []).append(a[_Appointment.id])
    new_appts = new_ids((a[_Appointment.id] for a in appts), len(new_patients))
    for aid, pid in zip(new_appts, new_patients, strict=True):
        appts.append(
            appts_file.new_record(
                {
                    _Appointment.id: aid,
                    _Appointment.patient_id: pid,
                    _Appointment.start_date_time: "2026-12-02 09:00",
                    _Appointment.duration_minutes: "60",
                    _Appointment.provider_id: template.get(_Patient.primary_provider_id, ""),
                    _Appointment.location_id: template.get(_Patient.home_location_id, ""),
                    _Appointment.appointment_type: "Consult",
                    _Appointment.status: "Scheduled",
                    _Appointment.created_at: stamp,
                    _Appointment.modified_at: stamp,
                }
            )
        )
        edits.added.setdefault("appointments", []).append(aid)
    appts_file.put(appts)

    plans, plans_file = _load(
        out / "treatment_plans.csv", bindings, _Plan.id, _Plan.patient_id, _Plan.status
    )
    proposed = [
        t
        for t in plans
        if t[_Plan.status].strip().casefold() == "proposed" and t[_Plan.patient_id] not in untouched
    ]
    if proposed:
        plan = rng.choice(proposed)
        plan[_Plan.status] = "Accepted"
        plan[_Plan.accepted_date] = (
            datetime.strptime(stamp, "%Y-%m-%d %H:%M") - timedelta(days=1)
        ).strftime("%Y-%m-%d")
        plan[_Plan.modified_at] = stamp
        edits.changed["treatment_plans"] = [plan[_Plan.id]]
    plans_file.put(plans)
    _owner_only(out)
    return edits


def _owner_only(root: Path) -> None:
    """The copy holds patient data: readable by its owner only, like every flitstack output."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
