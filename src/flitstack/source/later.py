"""A later export of the same practice: what the front desk changed during the cutover window.

Delta pickup is tested and demonstrated on a copy of an export with realistic edits: patients
who changed phone or e-mail, appointments that were completed, a plan that was accepted, new
patients with a first appointment, and a patient marked Deleted. Columns are found by role (the
map's bindings), so any export the reader accepts can be edited whatever its headers, their
order, its extra columns or its IDs (``A1``, ``P-0042``). Each file keeps its encoding,
byte-order mark, line endings and quoting, and every record not edited is written back byte for
byte, so the later export is as messy as the first. An edit the export cannot take (a file or a
column it lacks) is left out and named in :attr:`LaterEdits.skipped`. What was edited is
returned, so tests compare the delta's counts exactly.
"""

from __future__ import annotations

import codecs
import csv
import io
import random
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Literal

from flitstack.source.reader import (
    BindingSource,
    ExportError,
    HeaderBinding,
    _header_map,
    detect_encoding,
    detect_layout,
    open_export,
)
from flitstack.source.schema import role, spec_for


class _Patient:
    """The roles of patients.csv the later export edits (bound at import: a typo fails there)."""

    id = role("patients", "patient_id")
    first_name = role("patients", "first_name")
    last_name = role("patients", "last_name")
    email = role("patients", "email")
    mobile_phone = role("patients", "mobile_phone")
    home_phone = role("patients", "home_phone")
    work_phone = role("patients", "work_phone")
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
    """Source IDs touched, per file and kind of edit, and the edits this export could not take."""

    changed: dict[str, list[str]] = field(default_factory=dict)
    added: dict[str, list[str]] = field(default_factory=dict)
    deleted: dict[str, list[str]] = field(default_factory=dict)
    #: one line per edit left out, naming the file and what it lacks (a missing file or column)
    skipped: list[str] = field(default_factory=list)


#: byte-order marks, longest first (a UTF-32 LE mark starts like a UTF-16 LE one), and the codec
#: that reads what follows them; the mark is written back as found
_MARKS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_Quoting = Literal[0, 1, 2, 3]
_QUOTINGS: tuple[_Quoting, ...] = (csv.QUOTE_MINIMAL, csv.QUOTE_ALL)


class _Rows:
    """A CSV file's records: well-formed ones editable by role; every record not edited is
    written back exactly as read (its quoting, line ending, stray spaces), malformed ones too.

    A role is the MDC column a header stands for (``binding`` from the map; without one the
    headers are matched to the format's names ignoring case and spaces, as the reader does).
    The file keeps its encoding and byte-order mark; an edited record keeps its quoting style
    and line ending, and a new one takes the file's.
    """

    def __init__(self, path: Path, binding: HeaderBinding | None = None) -> None:
        raw = path.read_bytes()
        self.path = path
        detected = detect_encoding(lambda: io.BytesIO(raw), path.name)
        self.mark, self.codec = next(
            ((m, c) for m, c in _MARKS if raw.startswith(m)), (b"", detected)
        )
        text = raw[len(self.mark) :].decode(self.codec, errors="surrogateescape")
        #: each record's text as read (line ending included), and its fields
        self.chunks: list[str] = []
        self.fields: list[list[str]] = []
        consumed: list[str] = []

        def lines() -> Iterator[str]:
            for line in io.StringIO(text, newline=""):
                consumed.append(line)
                yield line

        layout = detect_layout(io.StringIO(text, newline=""))
        self.delimiter = layout.delimiter
        reader = csv.reader(lines(), delimiter=self.delimiter)
        try:
            for fields in reader:
                self.chunks.append("".join(consumed))
                consumed.clear()
                self.fields.append(fields)
        except csv.Error as exc:
            raise ExportError(f"{path.name} line {reader.line_num}: unreadable: {exc}") from exc
        if consumed and self.chunks:  # text after the last record (none that csv skips)
            self.chunks[-1] += "".join(consumed)
        #: the header's record: after the lines above it (a report's title), kept as they are
        at = len(layout.preamble)
        first = self.chunks[at] if len(self.chunks) > at else ""
        ending = first[len(first.rstrip("\r\n")) :]
        self.newline = ending if ending in ("\r\n", "\n", "\r") else "\r\n"
        self.header = self.fields[at] if len(self.fields) > at else []
        names = _header_map(path.stem, self.header, spec_for(path.stem), binding)
        #: role (or the name an unknown column is read under) → the header as the file spells it
        self.columns = dict(zip(names, self.header, strict=True))
        width = len(self.header)
        #: position in ``chunks`` → the record, by role
        self._records = {
            i: dict(zip(names, fields, strict=True))
            for i, fields in enumerate(self.fields)
            if i > at and width and len(fields) == width
        }
        self._added: list[dict[str, str]] = []
        sample = next(iter(self._records), 0)
        self.quoting: _Quoting = self._quoting(sample, csv.QUOTE_MINIMAL)

    def has(self, role: str) -> bool:
        return role in self.columns

    def records(self) -> list[dict[str, str]]:
        """Well-formed records as dicts keyed by role; change them with :meth:`set`."""
        return list(self._records.values())

    def set(self, record: dict[str, str], role: str, value: str) -> bool:
        """Give ``record`` a value in the column playing ``role``; False when none does."""
        if role not in self.columns:
            return False
        record[role] = value
        return True

    def add(self, values: dict[str, str]) -> None:
        """A new record with ``values`` (by role) where the file has those columns, else empty."""
        self._added.append({role: values.get(role, "") for role in self.columns})

    def _line(self, fields: list[str], quoting: _Quoting, newline: str) -> str:
        buffer = io.StringIO()
        writer = csv.writer(
            buffer, quoting=quoting, lineterminator=newline, delimiter=self.delimiter
        )
        writer.writerow(fields)
        return buffer.getvalue()

    def _quoting(self, i: int, default: _Quoting) -> _Quoting:
        """The quoting style that writes record ``i`` as it was read (else ``default``)."""
        if not self.chunks:
            return default
        body = self.chunks[i].rstrip("\r\n")
        same = (q for q in _QUOTINGS if self._line(self.fields[i], q, "") == body)
        return next(same, default)

    def save(self) -> None:
        """Write the file back: records not edited as read, edited and new ones in its style."""
        out = list(self.chunks)
        for i, record in self._records.items():
            values = [record[role] for role in self.columns]
            if values != self.fields[i]:
                chunk = self.chunks[i]
                ending = chunk[len(chunk.rstrip("\r\n")) :]
                out[i] = self._line(values, self._quoting(i, self.quoting), ending)
        if self._added:
            if out and not out[-1].endswith(("\n", "\r")):
                out[-1] += self.newline
            out += [
                self._line([r[role] for role in self.columns], self.quoting, self.newline)
                for r in self._added
            ]
        text = "".join(out)
        try:
            body = text.encode(self.codec, errors="surrogateescape")
        except UnicodeEncodeError:  # a codec that cannot carry undecodable bytes back (UTF-16)
            body = text.encode(self.codec, errors="replace")
        self.path.write_bytes(self.mark + body)


def _find(folder: Path, file: str) -> Path | None:
    """``<file>.csv`` in ``folder``, its name in any case (as the reader finds it)."""
    wanted = f"{file}.csv"
    return next((p for p in sorted(folder.iterdir()) if p.name.lower() == wanted), None)


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
    """Copy ``source`` (a folder or a .zip) to the folder ``out`` and apply the edits of a few
    days of front-desk work.

    Columns are found by role through ``bindings`` (the map's; default: the map proposal of
    the files edited), so any export the reader accepts can be edited whatever its headers. An
    edit the export cannot take is left out and named in ``skipped``; an export the reader
    refuses raises its :class:`~flitstack.source.reader.ExportError`.
    """
    _copy(source, out)
    if bindings is None:
        from flitstack.mapping.propose import propose_bindings

        bindings = propose_bindings(out, ("patients", "appointments", "treatment_plans"))
    rng = random.Random(seed)
    stamp = (now or datetime(2026, 11, 20, 9, 30)).strftime("%Y-%m-%d %H:%M")
    edits = LaterEdits()
    new_patients, untouched, template = _edit_patients(out, bindings, rng, changes, stamp, edits)
    _edit_appointments(out, bindings, rng, stamp, new_patients, untouched, template, edits)
    _edit_plans(out, bindings, rng, stamp, untouched, edits)
    _owner_only(out)
    return edits


def _copy(source: Path, out: Path) -> None:
    """``source`` copied to ``out``, refused first where the reader refuses it (a missing path,
    a zip with unsafe members); a zip's one top-level folder becomes ``out`` itself. Links are
    copied as links, so the later export refuses what the first one did."""
    with open_export(source):
        pass
    if out.exists():
        shutil.rmtree(out)
    if source.is_dir():
        shutil.copytree(source, out, symlinks=True)
        return
    out.mkdir(parents=True)
    with zipfile.ZipFile(source) as archive:
        members = [i for i in archive.infolist() if not i.is_dir()]
        tops = {i.filename.split("/", 1)[0] for i in members if "/" in i.filename}
        roots = [i.filename for i in members if "/" not in i.filename]
        prefix = ""
        if not any(n.lower().endswith(".csv") for n in roots) and len(tops) == 1:
            prefix = tops.pop() + "/"  # as the reader reads it
        for info in members:
            if not info.filename.startswith(prefix):
                continue
            rel = PurePosixPath(info.filename[len(prefix) :])
            if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                continue  # never written outside ``out`` (the reader refuses such zips anyway)
            target = out.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)


def _open(
    folder: Path, file: str, bindings: BindingSource | None, edits: LaterEdits, *roles: str
) -> _Rows | None:
    """``file`` of the later export by role, or None (the reason in ``edits.skipped``) when it
    is absent or has no column for one of ``roles`` (the ones every edit of it needs)."""
    path = _find(folder, file)
    if path is None:
        edits.skipped.append(f"{file}.csv is not in the export: no {_WHAT[file]} edited")
        return None
    binding = None
    if bindings is not None:
        binding = bindings.for_file(path.stem) or bindings.for_file(file)
    rows = _Rows(path, binding)
    missing = [r for r in roles if not rows.has(r)]
    if missing:
        edits.skipped.append(
            f"{path.name}: no column plays {', '.join(missing)}: no {_WHAT[file]} edited"
        )
        return None
    return rows


#: what the edits of each file touch, for the lines that say which were left out
_WHAT = {
    "patients": "patient",
    "appointments": "appointment",
    "treatment_plans": "treatment plan",
}


def _edit_patients(
    out: Path, bindings: BindingSource | None, rng: random.Random, changes: int, stamp: str,
    edits: LaterEdits,
) -> tuple[list[str], set[str], dict[str, str]]:  # fmt: skip
    """Patients change phone (or e-mail), one is marked Deleted, two are new; returns the new
    IDs, the IDs edited (their other rows stay as they are) and a live patient as a template."""
    rows = _open(out, "patients", bindings, edits, _Patient.id)
    if rows is None:
        return [], set(), {}
    patients = [p for p in rows.records() if p[_Patient.id].strip()]
    if rows.has(_Patient.status):
        dead = {"deleted", ""}
        live = [p for p in patients if p[_Patient.status].strip().casefold() not in dead]
    else:
        live = patients
        edits.skipped.append(
            f"{rows.path.name}: no column plays {_Patient.status}: no patient marked Deleted"
        )
    picked = rng.sample(live, min(changes, max(len(live) - 1, 0)))
    contact = next((c for c in _CONTACTS if rows.has(c)), None)
    changing = picked[:-1] if rows.has(_Patient.status) else picked
    if contact is None:
        if changing:
            edits.skipped.append(
                f"{rows.path.name}: no column plays {' or '.join(_CONTACTS)}: no patient's "
                "contact details changed"
            )
        changing = []
    for p in changing:
        n = rng.randrange(1000, 9999)
        email = contact == _Patient.email
        rows.set(p, contact or "", f"new.{n}@mail.example.com" if email else f"(312) 555-{n}")
        rows.set(p, _Patient.modified_at, stamp)
        edits.changed.setdefault("patients", []).append(p[_Patient.id].strip())
    if picked and rows.has(_Patient.status):
        gone = picked[-1]
        rows.set(gone, _Patient.status, "Deleted")
        rows.set(gone, _Patient.modified_at, stamp)
        edits.deleted.setdefault("patients", []).append(gone[_Patient.id].strip())
    template = live[0] if live else {}
    new_patients = new_ids((p[_Patient.id] for p in rows.records()), 2)
    for i, pid in enumerate(new_patients):
        rows.add(
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
    edits.added["patients"] = new_patients
    rows.save()
    return new_patients, {p[_Patient.id].strip() for p in picked}, template


def _edit_appointments(
    out: Path, bindings: BindingSource | None, rng: random.Random, stamp: str,
    new_patients: list[str], untouched: set[str], template: dict[str, str], edits: LaterEdits,
) -> None:  # fmt: skip
    """Two scheduled appointments are completed; each new patient books a first one."""
    rows = _open(out, "appointments", bindings, edits, _Appointment.id)
    if rows is None:
        return
    appts = rows.records()
    if rows.has(_Appointment.status):
        scheduled = [
            a
            for a in appts
            if a[_Appointment.status].strip().casefold() == "scheduled"
            and a.get(_Appointment.patient_id, "").strip() not in untouched
        ]
        for a in rng.sample(scheduled, min(2, len(scheduled))):
            rows.set(a, _Appointment.status, "Completed")
            rows.set(a, _Appointment.modified_at, stamp)
            edits.changed.setdefault("appointments", []).append(a[_Appointment.id].strip())
    else:
        edits.skipped.append(
            f"{rows.path.name}: no column plays {_Appointment.status}: no appointment completed"
        )
    if new_patients and not rows.has(_Appointment.patient_id):
        edits.skipped.append(
            f"{rows.path.name}: no column plays {_Appointment.patient_id}: the new patients "
            "book no appointment"
        )
    elif new_patients:
        new_appts = new_ids((a[_Appointment.id] for a in appts), len(new_patients))
        for aid, pid in zip(new_appts, new_patients, strict=True):
            rows.add(
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
            edits.added.setdefault("appointments", []).append(aid)
    rows.save()


def _edit_plans(
    out: Path, bindings: BindingSource | None, rng: random.Random, stamp: str,
    untouched: set[str], edits: LaterEdits,
) -> None:  # fmt: skip
    """A proposed treatment plan is accepted (the day before)."""
    rows = _open(out, "treatment_plans", bindings, edits, _Plan.id, _Plan.status)
    if rows is None:
        return
    proposed = [
        t
        for t in rows.records()
        if t[_Plan.status].strip().casefold() == "proposed"
        and t.get(_Plan.patient_id, "").strip() not in untouched
    ]
    if proposed:
        plan = rng.choice(proposed)
        rows.set(plan, _Plan.status, "Accepted")
        accepted = datetime.strptime(stamp, "%Y-%m-%d %H:%M") - timedelta(days=1)
        rows.set(plan, _Plan.accepted_date, accepted.strftime("%Y-%m-%d"))
        rows.set(plan, _Plan.modified_at, stamp)
        edits.changed["treatment_plans"] = [plan[_Plan.id].strip()]
    rows.save()


#: the contact details a patient changes, the first the file has
_CONTACTS = (_Patient.mobile_phone, _Patient.email, _Patient.home_phone, _Patient.work_phone)


def _owner_only(root: Path) -> None:
    """The copy holds patient data: readable by its owner only, like every flitstack output."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
