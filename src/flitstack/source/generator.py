"""A realistic MDC export generator: families, providers, insurance, years of appointments,
treatment plans, recalls, notes, ledgers that add up, lab cases, referrals, documents, custom
properties and automations — with every kind of mess from FORMAT.md injected at set rates.

Output is deterministic for a seed and streamed file by file, so 200,000 patients fit in flat
memory. What was injected is recorded in ``.flitstack-injections.json`` so tests can check that
the audit finds exactly that.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from faker import Faker

from flitstack.source.mess import MessKind, MessRates
from flitstack.source.schema import FILES, role

INJECTIONS_FILE = ".flitstack-injections.json"
TODAY = date(2026, 10, 31)  # the export's snapshot day: fixed so output is reproducible
#: the references orphans are injected into, by role (rows are written in schema column order)
_INSURANCE_PATIENT = role("patient_insurance", "patient_id")
_INSURANCE_CARRIER = role("patient_insurance", "carrier_id")
_APPOINTMENT_PATIENT = role("appointments", "patient_id")

# File → (encoding, newline): the mess of encodings is part of every export we generate.
ENCODINGS: dict[str, tuple[str, str]] = {
    "patients": ("cp1252", "\r\n"),
    "clinical_notes": ("utf-8-sig", "\n"),
    "appointments": ("utf-8", "\r\n"),
}

CARRIERS = [
    ("Delta Dental", "CDCA1"),
    ("MetLife", "65978"),
    ("Cigna Dental", "62308"),
    ("Aetna Dental", "60054"),
    ("Guardian", "64246"),
    ("United Concordia", "CX007"),
    ("Humana Dental", "73288"),
    ("Blue Cross Blue Shield", "47198"),
    ("Ameritas", "47009"),
    ("Principal Financial", "61271"),
    ("DELTA DENTAL ", "CDCA1"),  # the same carrier keyed twice, as real exports have it
]

PROCEDURES = [
    ("D0120", "Periodic oral evaluation", Decimal("65.00"), False),
    ("D0150", "Comprehensive oral evaluation", Decimal("110.00"), False),
    ("D0274", "Bitewings - four radiographic images", Decimal("75.00"), False),
    ("D0330", "Panoramic radiographic image", Decimal("120.00"), False),
    ("D1110", "Prophylaxis - adult", Decimal("105.00"), False),
    ("D1206", "Topical application of fluoride varnish", Decimal("40.00"), False),
    ("D2331", "Resin-based composite - two surfaces, anterior", Decimal("210.00"), True),
    ("D2392", "Resin-based composite - two surfaces, posterior", Decimal("245.00"), True),
    ("D2740", "Crown - porcelain/ceramic", Decimal("1250.00"), True),
    ("D2950", "Core buildup, including any pins", Decimal("285.00"), True),
    ("D3330", "Endodontic therapy, molar tooth", Decimal("1150.00"), True),
    ("D4341", "Periodontal scaling and root planing - per quadrant", Decimal("260.00"), False),
    ("D6010", "Surgical placement of implant body", Decimal("2100.00"), True),
    ("D7140", "Extraction, erupted tooth", Decimal("185.00"), True),
    ("D8080", "Comprehensive orthodontic treatment", Decimal("5400.00"), False),
    ("D9944", "Occlusal guard - hard appliance, full arch", Decimal("550.00"), False),
]
SURFACE_SETS = ["MO", "DO", "MOD", "B", "L", "O", "MODB", "F", "I"]
ACCENTED_FIRST = ["José", "Zoë", "Renée", "Chloé", "André", "Noël", "Inés"]
ACCENTED_LAST = ["O’Brien", "Muñoz", "Gómez", "Núñez", "Béland"]

AUTOMATIONS = [
    (
        "Recall reminder 2 weeks",
        "Recall due in 14 days",
        "Patient status = Active; E-mail present",
        "Send e-mail template 'Recall reminder'; Create task for front desk",
        "Y",
        "Hygiene recall driver",
    ),
    (
        "Appointment confirmation",
        "Appointment scheduled",
        "Appointment type in (Scheduled, Hygiene)",
        "Send SMS 48 hours before; Mark confirmed on reply",
        "Y",
        "",
    ),
    (
        "No-show follow up",
        "Appointment status changed to NoShow",
        "",
        "Create call task for front desk next business day",
        "Y",
        "",
    ),
    (
        "Birthday greeting",
        "Patient birthday",
        "MarketingOptIn = Y",
        "Send e-mail template 'Happy birthday'",
        "Y",
        "Marketing",
    ),
    (
        "Treatment plan follow-up",
        "Treatment plan status = Proposed for 7 days",
        "TotalFee > 500",
        "Create task for treatment coordinator; Send e-mail 'Your plan'",
        "Y",
        "",
    ),
    (
        "Lab case overdue",
        "Lab case due date passed",
        "Status = InLab",
        "Notify provider; Create call task to lab",
        "Y",
        "",
    ),
    (
        "Balance statement",
        "Monthly on the 1st",
        "Outstanding balance > 0",
        "Print and mail statement",
        "N",
        "Replaced by billing service",
    ),
    (
        "Post-op check",
        "Completed procedure D7140 or D6010",
        "",
        "Create call task in 2 days; Send e-mail 'After your procedure'",
        "Y",
        "",
    ),
]

CUSTOM_PROPERTIES = [
    ("membership_tier", "picklist", "Gold|Silver|Bronze|None", "In-house membership plan"),
    ("preferred_provider", "text", "", "Provider the patient asks for"),
    ("chair_preference", "picklist", "Window|Hallway|No preference", "Operatory preference"),
    ("xray_consent_date", "date", "", "Date of the last radiograph consent"),
    ("sms_reminders", "boolean", "", "Patient accepts SMS reminders"),
]

PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
PDF_BYTES = (
    b"%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


@dataclass
class GenerationResult:
    """What was written and what mess went into it."""

    path: Path
    rows: dict[str, int] = field(default_factory=dict)
    injected: dict[str, Any] = field(default_factory=dict)


class _Pools:
    """Name and address pools drawn once from Faker, so per-row generation is a cheap choice()."""

    def __init__(self, seed: int) -> None:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.first = [fake.first_name() for _ in range(400)] + ACCENTED_FIRST
        self.last = [fake.last_name() for _ in range(600)] + ACCENTED_LAST
        self.streets = [fake.street_address() for _ in range(800)]
        self.cities = [(fake.city(), fake.state_abbr(), fake.zipcode()) for _ in range(60)]
        self.words = fake.words(nb=300)
        self.labs = [f"{fake.last_name()} Dental Lab" for _ in range(6)]
        self.specialists = [
            (f"Dr. {fake.first_name()} {fake.last_name()}", f"{fake.last_name()} {s}", s)
            for s in ("Endodontics", "Periodontics", "Oral Surgery", "Orthodontics")
            for _ in range(2)
        ]


class _Writer:
    """Opens every CSV file at once and keeps row counts."""

    def __init__(self, out: Path, stack: ExitStack) -> None:
        self.rows: Counter[str] = Counter()
        self._writers: dict[str, Any] = {}
        for name, spec in FILES.items():
            encoding, newline = ENCODINGS.get(name, ("utf-8", "\n"))
            fh = stack.enter_context(
                open(out / spec.filename, "w", encoding=encoding, newline="", errors="strict")  # noqa: SIM115
            )
            writer = csv.writer(fh, lineterminator=newline)
            writer.writerow(spec.column_names)
            self._writers[name] = writer

    def row(self, name: str, values: list[Any]) -> None:
        self._writers[name].writerow(["" if v is None else v for v in values])
        self.rows[name] += 1

    def raw(self, name: str, values: list[Any]) -> None:
        """Write a row as-is (used for deliberately unreadable rows); not counted as data."""
        self._writers[name].writerow(values)


class _Generator:
    def __init__(self, out: Path, patients: int, seed: int, mess: MessRates) -> None:
        self.out = out
        self.n_patients = patients
        self.seed = seed
        self.mess = mess
        self.rng = random.Random(seed)
        self.pools = _Pools(seed)
        self.counts: Counter[str] = Counter()
        self.orphans: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.seen_people: set[tuple[str, str, str]] = set()
        self.ids: Counter[str] = Counter()
        self.family_of: dict[str, tuple[str, str]] = {}

    # -- helpers

    def next_id(self, name: str) -> str:
        self.ids[name] += 1
        return str(self.ids[name] + (1000 if name == "patients" else 0))

    def chance(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def orphan(self, file: str, column: str, real: str | None) -> str | None:
        if real is not None and self.chance(self.mess.orphan_reference):
            self.orphans[f"{file}.{column}"] += 1
            return str(90_000_000 + self.orphans.total())
        return real

    def fmt_date(self, d: date | None, *, allow_short: bool = True) -> str:
        if d is None:
            return self.rng.choice(["", "", "NULL", "0000-00-00", "1900-01-01", "01/01/0001"])
        if self.chance(self.mess.cosmetic):
            forms = [f"{d.month:02d}/{d.day:02d}/{d.year}"]
            if allow_short and 1970 <= d.year < 2070:
                forms.append(f"{d.month}/{d.day}/{d.year % 100:02d}")
            return self.rng.choice(forms)
        return d.isoformat()

    def fmt_datetime(self, dt: datetime) -> str:
        if self.chance(self.mess.cosmetic):
            hour12 = dt.hour % 12 or 12
            meridiem = "PM" if dt.hour >= 12 else "AM"
            return f"{dt.month:02d}/{dt.day:02d}/{dt.year} {hour12}:{dt.minute:02d} {meridiem}"
        return dt.strftime("%Y-%m-%d %H:%M")

    def fmt_money(self, amount: Decimal) -> str:
        if self.chance(self.mess.cosmetic):
            if amount < 0:
                return f"({-amount:,.2f})"
            return f"${amount:,.2f}"
        return f"{amount:.2f}"

    def fmt_enum(self, value: str) -> str:
        if self.chance(self.mess.cosmetic):
            return self.rng.choice([value.upper(), value.lower(), f" {value} "])
        return value

    def null(self) -> str:
        return self.rng.choice(["", "", "", "NULL", "N/A", "none", "  "])

    def phone(self) -> str:
        area, mid, last = (
            self.rng.randint(201, 989),
            self.rng.randint(200, 999),
            self.rng.randint(0, 9999),
        )
        forms = [
            f"({area}) {mid}-{last:04d}",
            f"{area}-{mid}-{last:04d}",
            f"{area}.{mid}.{last:04d}",
            f"+1 {area} {mid} {last:04d}",
            f"{area}{mid}{last:04d}",
            f"({area}) {mid}-{last:04d} x{self.rng.randint(1, 99)}",
        ]
        return self.rng.choice(forms) if self.mess.cosmetic else forms[0]

    # -- files

    def run(self) -> GenerationResult:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "documents").mkdir(exist_ok=True)
        with ExitStack() as stack:
            w = _Writer(self.out, stack)
            locations = self.write_locations(w)
            providers = self.write_providers(w, locations)
            carriers = self.write_carriers(w)
            self.write_definitions(w)
            for family in self.families():
                self.write_family(w, family, providers, locations, carriers)
            for rule in AUTOMATIONS:
                w.row("automations", [self.next_id("automations"), *rule])
        manifest = {
            "source": "My Dental Clinic",
            "version": "12.4.2",
            "exported_at": f"{TODAY.isoformat()}T23:00:00-05:00",
            "timezone": "America/Chicago",
            "currency": "USD",
            "tooth_numbering": "universal",
        }
        (self.out / "export.json").write_text(json.dumps(manifest, indent=2))
        injected = {
            "seed": self.seed,
            "patients": self.n_patients,
            "counts": dict(sorted(self.counts.items())),
            "orphan_references": dict(sorted(self.orphans.items())),
            "rejected_rows": dict(sorted(self.rejected.items())),
        }
        (self.out / INJECTIONS_FILE).write_text(json.dumps(injected, indent=2, sort_keys=True))
        return GenerationResult(self.out, dict(w.rows), injected)

    def write_locations(self, w: _Writer) -> list[str]:
        ids = []
        names = ["Main Street Dental", "Riverside Family Dentistry", "Northgate Smiles", "Lakeview"]
        for name in names[: 2 + self.n_patients // 150 % 3]:
            loc = self.next_id("locations")
            city, state, zipc = self.rng.choice(self.pools.cities)
            slug = name.lower().replace(" ", "")
            w.row(
                "locations",
                [
                    loc,
                    name,
                    self.rng.choice(self.pools.streets),
                    None,
                    city,
                    state,
                    zipc,
                    self.phone(),
                    f"frontdesk@{slug}.example.com",
                    "America/Chicago",
                ],
            )
            ids.append(loc)
        return ids

    def write_providers(self, w: _Writer, locations: list[str]) -> dict[str, list[str]]:
        by_type: dict[str, list[str]] = {"Dentist": [], "Hygienist": [], "Assistant": []}
        total = max(6, self.n_patients // 60)
        types = ["Dentist", "Hygienist", "Hygienist", "Assistant", "Specialist"]
        for i in range(total):
            pid = self.next_id("providers")
            ptype = types[i % len(types)]
            first, last = self.rng.choice(self.pools.first), self.rng.choice(self.pools.last)
            email: str | None = f"{first[0].lower()}.{_ascii(last).lower()}@practice.example.com"
            if i >= 2 and self.chance(self.mess.provider_without_email):
                email = None
                self.counts[MessKind.PROVIDER_WITHOUT_EMAIL] += 1
            suffix = (
                "DDS"
                if ptype in ("Dentist", "Specialist")
                else ("RDH" if ptype == "Hygienist" else "")
            )
            npi = str(1_000_000_000 + self.rng.randint(0, 899_999_999)) if suffix else None
            w.row(
                "providers",
                [
                    pid,
                    f"{first[0]}{last[0]}{i}".upper(),
                    first,
                    last,
                    suffix,
                    ptype,
                    email,
                    npi,
                    "Y" if i < total - 1 else "N",
                    self.rng.choice(locations),
                ],
            )
            by_type.setdefault(ptype, []).append(pid)
        return by_type

    def write_carriers(self, w: _Writer) -> list[str]:
        ids = []
        for name, payer in CARRIERS:
            cid = self.next_id("insurance_carriers")
            city, state, zipc = self.rng.choice(self.pools.cities)
            w.row(
                "insurance_carriers",
                [
                    cid,
                    name,
                    payer,
                    f"PO Box {self.rng.randint(100, 99999)}",
                    city,
                    state,
                    zipc,
                    "(800) 555-0" + f"{self.rng.randint(100, 999)}",
                ],
            )
            ids.append(cid)
        return ids

    def write_definitions(self, w: _Writer) -> None:
        for row in CUSTOM_PROPERTIES:
            w.row("custom_property_definitions", list(row))

    def families(self) -> Iterator[int]:
        remaining = self.n_patients
        while remaining > 0:
            size = min(remaining, self.rng.choice([1, 1, 1, 2, 2, 3, 4]))
            remaining -= size
            yield size

    def write_family(
        self,
        w: _Writer,
        size: int,
        providers: dict[str, list[str]],
        locations: list[str],
        carriers: list[str],
    ) -> None:
        last = self.rng.choice(self.pools.last)
        street = self.rng.choice(self.pools.streets)
        city, state, zipc = self.rng.choice(self.pools.cities)
        home = self.rng.choice(locations)
        dentist = self.rng.choice(providers["Dentist"])
        hygienist = self.rng.choice(providers["Hygienist"])
        family_carrier = self.rng.choice(carriers) if self.rng.random() < 0.75 else None
        guarantor: str | None = None
        for member in range(size):
            pid = self.next_id("patients")
            guarantor = guarantor or pid
            first = self.rng.choice(self.pools.first)
            dob = self.birthdate(member)
            while (first, last, dob.isoformat()) in self.seen_people:
                dob += timedelta(days=1)
            self.seen_people.add((first, last, dob.isoformat()))
            g = guarantor
            self.family_of[pid] = (last, street)
            if member > 0 and self.chance(self.mess.guarantor_other_family):
                other = self.other_family_member(pid, (last, street))
                if other is not None:
                    g = other
                    self.counts[MessKind.GUARANTOR_OTHER_FAMILY] += 1
            good_email = f"{_ascii(first).lower()}.{_ascii(last).lower()}{pid}@mail.example.com"
            email: str | None = good_email
            email_invalid = phone_junk = False
            if self.chance(self.mess.missing_email):
                email = None
            elif self.chance(self.mess.invalid_email):
                email_invalid = True
                email = self.rng.choice(
                    [
                        f"{first} {last}@mail.example.com",
                        f"{_ascii(first)}.mail.example.com",
                        f"{_ascii(first)}@@example",
                        f"{_ascii(first)}@",
                    ]
                )
                self.counts[MessKind.INVALID_EMAIL] += 1
            elif self.chance(self.mess.cosmetic):
                email = self.rng.choice([good_email.upper(), f"  {good_email} "])
            if email is None:
                self.counts["patients_without_email"] += 1
            mobile = self.phone()
            if self.chance(self.mess.junk_phone):
                mobile = self.rng.choice(["call me", "123", "ask wife", "no phone", "555"])
                phone_junk = True
                self.counts[MessKind.JUNK_PHONE] += 1
            status = self.rng.choices(
                ["Active", "Inactive", "Archived", "Deceased", "Prospective"], [80, 10, 6, 1, 3]
            )[0]
            created = datetime(2012, 1, 1) + timedelta(minutes=self.rng.randint(0, 7_000_000))
            appointments = self.rng.randint(0, 14) if status != "Prospective" else 0
            deleted = appointments > 0 and self.chance(self.mess.deleted_patient)
            if deleted:
                status = "Deleted"
            row = [
                pid,
                first,
                last,
                self.rng.choice(["", "", chr(65 + self.rng.randint(0, 25))]),
                self.rng.choice(["", "", first[:3]]),
                self.fmt_date(dob, allow_short=False),
                self.rng.choice(["M", "F", "F", "M", "U", ""]),
                email if email is not None else self.null(),
                self.phone() if member == 0 else self.null(),
                mobile,
                self.phone() if self.rng.random() < 0.2 else self.null(),
                street,
                self.null(),
                city,
                state,
                zipc,
                "US",
                self.fmt_enum(status),
                g,
                dentist,
                hygienist,
                home,
                self.fmt_date(created.date()),
                self.rng.choice(["Y", "N", ""]),
                self.fmt_datetime(created),
                self.fmt_datetime(created + timedelta(days=self.rng.randint(0, 900))),
            ]
            w.row("patients", row)
            if self.chance(self.mess.duplicate_patient):
                copy = list(row)
                copy[0] = self.next_id("patients")
                w.row("patients", copy)
                self.family_of[copy[0]] = (last, street)
                self.counts[MessKind.DUPLICATE_PATIENT] += 1
                if email is None:
                    self.counts["patients_without_email"] += 1
                if email_invalid:
                    self.counts[MessKind.INVALID_EMAIL] += 1
                if phone_junk:
                    self.counts[MessKind.JUNK_PHONE] += 1
            self.write_patient_records(
                w,
                pid,
                g,
                created,
                appointments,
                deleted,
                dentist,
                hygienist,
                providers,
                locations,
                family_carrier,
                carriers,
                member,
            )

    def other_family_member(self, pid: str, family: tuple[str, str]) -> str | None:
        """An earlier patient of another household, for guarantors that cross families."""
        for _ in range(5):
            candidate = str(self.rng.randint(1001, int(pid) - 1)) if int(pid) > 1001 else None
            if candidate is not None and self.family_of.get(candidate, family) != family:
                return candidate
        return None

    def birthdate(self, member: int) -> date:
        if member == 0:
            return date(1950, 1, 1) + timedelta(days=self.rng.randint(0, 365 * 50))
        return date(1975, 1, 1) + timedelta(days=self.rng.randint(0, 365 * 48))

    def write_patient_records(
        self,
        w: _Writer,
        pid: str,
        guarantor: str,
        created: datetime,
        appointments: int,
        deleted: bool,
        dentist: str,
        hygienist: str,
        providers: dict[str, list[str]],
        locations: list[str],
        family_carrier: str | None,
        carriers: list[str],
        member: int,
    ) -> None:
        rng = self.rng
        # Insurance: primary from the family, sometimes secondary and tertiary.
        if family_carrier is not None:
            chosen = [family_carrier]
            if rng.random() < 0.25:
                chosen.append(rng.choice([c for c in carriers if c != family_carrier]))
                if rng.random() < 0.15:
                    chosen.append(rng.choice([c for c in carriers if c not in chosen]))
            for ordinal, carrier in enumerate(chosen, start=1):
                w.row(
                    "patient_insurance",
                    [
                        self.next_id("patient_insurance"),
                        self.orphan("patient_insurance", _INSURANCE_PATIENT, pid),
                        self.orphan("patient_insurance", _INSURANCE_CARRIER, carrier),
                        ordinal,
                        f"W{rng.randint(10**8, 10**9 - 1)}",
                        f"G{rng.randint(1000, 99999)}",
                        rng.choice(["Acme Corp", "City Schools", "State Employees", "Self-funded"]),
                        None,
                        rng.choice(["Self", "Self", "Spouse", "Child"]) if member else "Self",
                        self.fmt_date(created.date()),
                        self.null(),
                    ],
                )
        # Appointments over the years.
        completed_codes: list[tuple[str, Decimal]] = []
        visit = created
        had_appointment = False
        for _ in range(appointments):
            visit += timedelta(days=rng.randint(60, 240))
            if visit.date() > TODAY + timedelta(days=540):
                break  # a practice books at most about a year and a half ahead
            visit = visit.replace(hour=rng.randint(8, 16), minute=rng.choice([0, 15, 30, 45]))
            future = visit.date() > TODAY
            atype = rng.choices(
                ["Scheduled", "Hygiene", "Recall", "Emergency", "Consult"], [40, 30, 15, 5, 10]
            )[0]
            status = (
                "Scheduled"
                if future
                else rng.choices(["Completed", "Broken", "NoShow", "Cancelled"], [85, 5, 5, 5])[0]
            )
            codes = rng.sample(PROCEDURES[:6], k=rng.randint(1, 3))
            if status == "Completed":
                completed_codes += [(c[0], c[2]) for c in codes]
            patient_ref = self.orphan("appointments", _APPOINTMENT_PATIENT, pid)
            had_appointment = had_appointment or patient_ref == pid
            row = [
                self.next_id("appointments"),
                patient_ref,
                self.fmt_datetime(visit),
                rng.choice([30, 45, 60, 60, 90]),
                dentist,
                hygienist if atype in ("Hygiene", "Recall") else None,
                f"OP{rng.randint(1, 6)}",
                rng.choice(locations),
                self.fmt_enum(atype),
                self.fmt_enum(status),
                ";".join(c[0] for c in codes),
                rng.choice(["", "", "Pt prefers mornings", 'Said "no rush", call first']),
                self.fmt_datetime(visit - timedelta(days=rng.randint(1, 60))),
                self.fmt_datetime(visit),
            ]
            w.row("appointments", row)
            if self.chance(self.mess.rejected_row):
                w.raw("appointments", [*row, "stray field"])
                self.rejected["appointments"] += 1
        if deleted and had_appointment:
            self.counts[MessKind.DELETED_PATIENT_WITH_APPOINTMENTS] += 1
        # Treatment plan with items.
        plans: list[str] = []
        if rng.random() < 0.55:
            plan = self.next_id("treatment_plans")
            plans.append(plan)
            status = rng.choice(["Proposed", "Accepted", "InProgress", "Completed", "Declined"])
            items = rng.sample(PROCEDURES[6:], k=rng.randint(1, 4))
            total = sum((i[2] for i in items), Decimal(0))
            made = created.date() + timedelta(days=rng.randint(30, 2000))
            w.row(
                "treatment_plans",
                [
                    plan,
                    pid,
                    f"{items[0][1].split(',')[0]} plan",
                    self.fmt_enum(status),
                    self.fmt_money(total),
                    dentist,
                    self.fmt_date(made),
                    self.fmt_date(made + timedelta(days=14)) if status != "Proposed" else "",
                    self.fmt_datetime(datetime(made.year, made.month, made.day, 12)),
                    rng.choice(["", "Discussed alternatives, patient will check coverage."]),
                ],
            )
            for priority, (code, desc, fee, toothy) in enumerate(items, start=1):
                tooth = str(rng.randint(1, 32)) if toothy else None
                if tooth and self.chance(self.mess.cosmetic):
                    tooth = rng.choice(
                        [f"#{tooth}", f"{tooth}-{min(32, int(tooth) + 2)}", "UR", "LL", "U"]
                    )
                item_status = (
                    "Completed" if status == "Completed" else rng.choice(["Planned", "Scheduled"])
                )
                if item_status == "Completed":
                    completed_codes.append((code, fee))
                w.row(
                    "treatment_plan_items",
                    [
                        self.next_id("treatment_plan_items"),
                        plan,
                        code,
                        desc,
                        tooth,
                        rng.choice(SURFACE_SETS) if toothy else None,
                        self.fmt_money(fee),
                        self.fmt_enum(item_status),
                        priority,
                    ],
                )
        # Recalls: several per patient.
        for rtype, months in rng.sample(
            [("Prophy", 6), ("Exam", 12), ("Bitewings", 12), ("Perio", 3), ("Fluoride", 6)],
            k=rng.randint(0, 3),
        ):
            last_recall = created.date() + timedelta(days=rng.randint(100, 4000))
            w.row(
                "recalls",
                [
                    self.next_id("recalls"),
                    pid,
                    rtype,
                    months,
                    self.fmt_date(last_recall),
                    self.fmt_date(last_recall + timedelta(days=months * 30)),
                    rng.choice(["N", "N", "N", "Y"]),
                    "",
                ],
            )
        # Clinical notes in plain, HTML and RTF.
        for _ in range(rng.randint(0, 4)):
            fmt = rng.choice(["plain", "plain", "html", "rtf"])
            words = " ".join(rng.choices(self.pools.words, k=rng.randint(8, 40)))
            text = {
                "plain": f"Pt seen, {words}.\nBP 120/80, no meds changes.",
                "html": f"<p><b>Exam:</b> {words}</p><ul><li>BP 120/80</li></ul>",
                "rtf": r"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0 " + words + r"\par}",
            }[fmt]
            if rng.random() < 0.01:
                text = (text + " ") * 120  # very long notes exist
            note_time = created + timedelta(days=rng.randint(0, 3000), hours=rng.randint(0, 8))
            if note_time.date() > TODAY:  # a note is written at or after a visit, never ahead
                note_time = note_time.replace(year=TODAY.year - 1, month=1, day=15)
            w.row(
                "clinical_notes",
                [
                    self.next_id("clinical_notes"),
                    pid,
                    self.fmt_datetime(note_time),
                    rng.choice([dentist, hygienist]),
                    rng.choice(["Clinical", "Progress", "Perio", "MedicalAlert"]),
                    plans[0] if plans and rng.random() < 0.3 else None,
                    fmt,
                    text,
                    self.fmt_datetime(note_time),
                ],
            )
        # Ledger: charges for completed work, then payments that never exceed them.
        balance = Decimal(0)
        day = created.date()
        for code, fee in completed_codes:
            day += timedelta(days=rng.randint(1, 90))
            w.row("ledger_entries", self._ledger(pid, guarantor, day, "Charge", fee, code, dentist))
            balance += fee
            for kind, share in (("InsurancePayment", Decimal("0.6")), ("Payment", Decimal("0.3"))):
                if balance > 0 and rng.random() < 0.7:
                    amount = min(balance, (fee * share).quantize(Decimal("0.01")))
                    w.row(
                        "ledger_entries",
                        self._ledger(pid, guarantor, day, kind, -amount, None, dentist),
                    )
                    balance -= amount
        if balance > 20 and rng.random() < 0.1:
            w.row(
                "ledger_entries",
                self._ledger(pid, guarantor, day, "WriteOff", Decimal("-10.00"), None, dentist),
            )
        # Lab cases and referrals for some.
        if rng.random() < 0.08:
            lab = rng.choice(self.pools.labs)
            sent = created.date() + timedelta(days=rng.randint(10, 3000))
            status = rng.choice(["InLab", "Returned", "ReCase", "Delivered"])
            w.row(
                "lab_cases",
                [
                    self.next_id("lab_cases"),
                    pid,
                    lab,
                    self.phone(),
                    f"cases@{_ascii(lab).lower().replace(' ', '')}.example.com",
                    rng.choice(
                        ["Crown", "Bridge", "Implant", "OrthoDevice", "Denture", "NightGuard"]
                    ),
                    self.fmt_enum(status),
                    self.fmt_date(sent),
                    self.fmt_date(sent + timedelta(days=14)),
                    self.fmt_date(sent + timedelta(days=12)) if status != "InLab" else "",
                    dentist,
                    self.fmt_money(Decimal(rng.randint(90, 900))),
                    "Shade A2, rush if possible",
                ],
            )
        if rng.random() < 0.05:
            name, practice, specialty = rng.choice(self.pools.specialists)
            w.row(
                "referrals",
                [
                    self.next_id("referrals"),
                    pid,
                    rng.choice(["Out", "Out", "In"]),
                    name,
                    practice,
                    specialty,
                    f"referrals@{_ascii(practice).lower().replace(' ', '')}.example.com",
                    self.phone(),
                    self.fmt_date(created.date() + timedelta(days=rng.randint(1, 3000))),
                    rng.choice(["Sent", "Scheduled", "Completed", "Declined"]),
                    "Evaluate for treatment",
                ],
            )
        # Documents: real small files, some listed but missing.
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            doc = self.next_id("documents")
            dtype, ext, mime, payload = rng.choice(
                [
                    ("XRay", "png", "image/png", PNG_BYTES),
                    ("Consent", "pdf", "application/pdf", PDF_BYTES),
                    ("Form", "txt", "text/plain", b"Medical history form\n"),
                ]
            )
            rel = f"{pid}/{doc}.{ext}"
            if self.chance(self.mess.missing_document_file):
                self.counts[MessKind.MISSING_DOCUMENT_FILE] += 1
            else:
                target = self.out / "documents" / pid
                target.mkdir(exist_ok=True)
                (target / f"{doc}.{ext}").write_bytes(payload)
            w.row(
                "documents",
                [doc, pid, rel, f"{dtype} on file", dtype, mime, self.fmt_datetime(created)],
            )
        # Custom properties.
        if rng.random() < 0.6:
            values = {
                "membership_tier": rng.choice(["Gold", "Silver", "Bronze", "None"]),
                "preferred_provider": f"Dr. {rng.choice(self.pools.last)}",
                "chair_preference": rng.choice(["Window", "Hallway", "No preference"]),
                "xray_consent_date": (created.date() + timedelta(days=30)).isoformat(),
                "sms_reminders": rng.choice(["Y", "N"]),
            }
            for prop in rng.sample(list(values), k=rng.randint(1, 5)):
                w.row("patient_custom_properties", [pid, prop, values[prop]])

    def _ledger(
        self,
        pid: str,
        guarantor: str,
        day: date,
        kind: str,
        amount: Decimal,
        code: str | None,
        provider: str,
    ) -> list[Any]:
        return [
            self.next_id("ledger_entries"),
            pid,
            guarantor,
            self.fmt_date(day),
            kind,
            self.fmt_money(amount),
            code,
            None,
            provider,
            {
                "Charge": "Procedure",
                "Payment": "Patient payment",
                "InsurancePayment": "Insurance payment",
                "WriteOff": "Small balance write-off",
            }[kind],
            f"C{self.rng.randint(10**5, 10**6)}" if kind == "InsurancePayment" else None,
        ]


def _ascii(text: str) -> str:
    return text.encode("ascii", "ignore").decode().replace("'", "")


def generate_export(
    out: str | Path,
    patients: int,
    seed: int = 1,
    mess: MessRates | None = None,
    zip: bool = False,
) -> GenerationResult:
    """Write a complete MDC export of ``patients`` patients into ``out`` (a folder, or a .zip)."""
    out = Path(out)
    if patients < 1:
        raise ValueError("patients must be at least 1")
    folder = out.with_suffix("") if zip else out
    if folder.exists():
        shutil.rmtree(folder)
    result = _Generator(folder, patients, seed, mess or MessRates()).run()
    if zip:
        archive = folder.with_suffix(".zip")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    zf.write(path, f"{folder.name}/{path.relative_to(folder)}")
        (archive.parent / f"{archive.name}{INJECTIONS_FILE}").write_text(
            (folder / INJECTIONS_FILE).read_text()
        )
        shutil.rmtree(folder)
        result.path = archive
    return result


def bundled_sample_path() -> Path:
    """The small demo export shipped inside the package (300 patients, seed 1)."""
    return Path(str(resources.files("flitstack") / "data" / "sample_export"))
