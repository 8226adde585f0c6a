"""Rewrite an export the way another practice's MDC configuration might have written it.

Headers renamed in several styles (spaces, ``#``, abbreviations, upper/lower/snake case),
columns reordered, and extra columns the MDC format does not know. The values are untouched, so
a migration of the copy must land exactly what a migration of the original lands.
"""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

from flitstack.source.reader import detect_encoding

#: file → {MDC column: header in this practice's export}
RENAMES: dict[str, dict[str, str]] = {
    "patients": {
        "PatientID": "Patient #", "FirstName": "first name", "LastName": "LAST NAME",
        "MiddleInitial": "M.I.", "PreferredName": "Goes By", "DateOfBirth": "DOB",
        "Gender": "sex", "Email": "E-Mail", "HomePhone": "home_phone", "MobilePhone": "Cell",
        "WorkPhone": "Work Tel", "Address1": "Street Address", "Address2": "Address Line 2",
        "City": "CITY", "State": "St", "Zip": "ZIP Code", "Country": "country",
        "Status": "Patient Status", "GuarantorID": "Guarantor #",
        "PrimaryProviderID": "Primary Dentist", "HygienistID": "Hyg",
        "HomeLocationID": "Home Office",
        "FirstVisitDate": "first_visit", "MarketingOptIn": "Marketing Opt In",
        "CreatedAt": "Date Added", "ModifiedAt": "last_modified",
    },
    "providers": {
        "ProviderID": "Provider #", "Abbreviation": "Abbr", "FirstName": "First",
        "LastName": "Last", "ProviderType": "Type", "Email": "EMAIL", "IsActive": "Active?",
        "LocationID": "Location #",
    },
    "locations": {"LocationID": "Location #", "Name": "Office Name", "TimeZone": "tz"},
    "insurance_carriers": {
        "CarrierID": "Carrier #", "CarrierName": "Carrier", "PayerID": "Payer #",
    },
    "patient_insurance": {
        "PatientInsuranceID": "Coverage ID", "PatientID": "Pt #", "CarrierID": "Carrier #",
        "Ordinal": "ordinal", "SubscriberID": "Subscriber #", "GroupNumber": "Group #",
        "SubscriberRelationship": "Relationship",
    },
    "appointments": {
        "AppointmentID": "Appt #", "PatientID": "Pt #", "StartDateTime": "Appt Start",
        "DurationMinutes": "Length (min)", "ProviderID": "Dentist", "HygienistID": "Hygienist",
        "Operatory": "OP", "LocationID": "Office", "AppointmentType": "Appt Type",
        "Status": "Appt Status", "ProcedureCodes": "Procedures", "Note": "appt_note",
        "CreatedAt": "created", "ModifiedAt": "modified",
    },
    "treatment_plans": {
        "TreatmentPlanID": "TX Plan #", "PatientID": "Pt #", "Title": "Plan Name",
        "Status": "Plan Status", "TotalFee": "Total Fee ($)", "ProviderID": "Dentist",
        "CreatedDate": "Date Created", "AcceptedDate": "Date Accepted", "ModifiedAt": "modified",
        "Note": "Plan Notes",
    },
    "treatment_plan_items": {
        "ItemID": "Item #", "TreatmentPlanID": "TX Plan #", "CDTCode": "ADA Code",
        "Tooth": "Tooth #", "Fee": "Item Fee",
    },
    "recalls": {
        "RecallID": "Recall #", "PatientID": "Pt #", "RecallType": "Recall Type",
        "IntervalMonths": "Interval (months)", "LastRecallDate": "Last Visit",
        "NextDueDate": "Due Date", "IsDisabled": "Disabled?",
    },
    "clinical_notes": {
        "NoteID": "Note #", "PatientID": "Pt #", "NoteDateTime": "Date/Time",
        "ProviderID": "Author", "NoteType": "Type", "TreatmentPlanID": "TX Plan #",
        "Text": "Note Text", "ModifiedAt": "modified",
    },
    "ledger_entries": {
        "EntryID": "Transaction #", "PatientID": "Pt #", "GuarantorID": "Guarantor #",
        "EntryDate": "Date", "EntryType": "Trans Type", "Amount": "Amt", "CDTCode": "ADA Code",
        "ProviderID": "Prov", "ClaimID": "Claim #",
    },
    "lab_cases": {
        "LabCaseID": "Case #", "PatientID": "Pt #", "LabName": "Lab", "CaseType": "Case Type",
        "Status": "Case Status", "SentDate": "Sent", "DueDate": "Due", "ReturnedDate": "Returned",
        "ProviderID": "Dentist", "Fee": "Lab Fee",
    },
    "referrals": {
        "ReferralID": "Referral #", "PatientID": "Pt #", "Direction": "In/Out",
        "SpecialistName": "Specialist", "PracticeName": "Practice", "ReferralDate": "Referred On",
        "Status": "Referral Status",
    },
    "documents": {
        "DocumentID": "Doc #", "PatientID": "Pt #", "FileName": "File Path",
        "DocumentType": "Doc Type", "MimeType": "Content Type", "CreatedAt": "Scanned",
    },
    "patient_custom_properties": {"PatientID": "Pt #", "PropertyName": "Property"},
}  # fmt: skip

#: Extra columns the MDC format does not know: file → [(header, value for row n)].
EXTRAS: dict[str, list[str]] = {
    "patients": ["Chair Preference", "Referred By"],
    "appointments": ["Confirmed Via"],
    "treatment_plans": ["Plan Priority"],
}


def _extra_value(header: str, n: int) -> str:
    return {
        "Chair Preference": ["Window", "Hallway", "No preference"][n % 3],
        "Referred By": f"Dr. Ref {n % 40}",
        "Confirmed Via": ["Text", "Call", "E-mail", ""][n % 4],
        "Plan Priority": ["High", "Normal", "Low"][n % 3],
    }[header]


def rename_export(src: Path, dst: Path, seed: int = 7) -> dict[str, dict[str, str]]:
    """Copy ``src`` to ``dst`` with renamed, reordered and extra columns; returns the renames."""
    shutil.copytree(src, dst)
    rng = random.Random(seed)
    for file, renames in RENAMES.items():
        path = dst / f"{file}.csv"
        if not path.exists():
            continue
        encoding = detect_encoding(lambda p=path: p.open("rb"))
        with path.open(encoding=encoding, newline="") as fh:
            rows = list(csv.reader(fh))
        header = [renames.get(h, h) for h in rows[0]]
        order = list(range(len(header)))
        rng.shuffle(order)
        extras = EXTRAS.get(file, [])
        with path.open("w", encoding=encoding, newline="") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow([header[i] for i in order] + extras)
            for n, row in enumerate(rows[1:]):
                if len(row) < len(header):  # a short row stays short (as the source had it)
                    writer.writerow([row[i] for i in order if i < len(row)])
                    continue
                # a row longer than its header keeps its surplus, so it stays broken
                extra = [_extra_value(e, n) for e in extras]
                writer.writerow([row[i] for i in order] + extra + row[len(header) :])
    return RENAMES
