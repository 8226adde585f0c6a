"""The MDC export layout as data: every known file, column, value kind, enum and reference.

This is the single place that knows ``FORMAT.md``. The reader parses by it, the generator
writes by it, the audit compares against it and the map proposal starts from it, so a column
added here is picked up everywhere at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """How a column's text is read into a typed value."""

    ID = "id"  # opaque identifier of this file's row (string, never assumed numeric)
    REF = "ref"  # opaque identifier pointing at another file's ID
    TEXT = "text"  # short free text
    LONG_TEXT = "long_text"  # notes, instructions: may hold line breaks, HTML or RTF
    NAME = "name"  # a person's name part
    DATE = "date"
    DATETIME = "datetime"  # practice-local wall time unless it carries an offset
    ENUM = "enum"
    YES_NO = "yes_no"  # Y/N/blank
    INT = "int"
    MONEY = "money"
    PHONE = "phone"
    EMAIL = "email"
    TOOTH = "tooth"  # a tooth, range, quadrant or arch in the export's notation
    SURFACES = "surfaces"  # letters of MODBLFI
    CDT = "cdt"  # one CDT procedure code, e.g. D2740
    CDT_LIST = "cdt_list"  # CDT codes separated by ';'
    NPI = "npi"
    PATH = "path"  # file path relative to documents/
    MIME = "mime"
    TIMEZONE = "timezone"  # IANA name


@dataclass(frozen=True)
class Column:
    """One column of a known export file."""

    name: str
    kind: Kind
    #: canonical enum values (the spelling used after normalisation)
    values: tuple[str, ...] = ()
    #: for REF columns: the file whose ID this points at
    ref: str | None = None
    #: personal/health data: masked in reports and never logged at info level
    personal: bool = False
    #: a row without this value cannot be used at all (becomes a reject)
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class FileSpec:
    """One known CSV file of the export."""

    name: str  # file stem, e.g. "patients"
    columns: tuple[Column, ...]
    description: str = ""
    #: the ID column, when rows have one
    id_column: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _id(name: str, description: str = "") -> Column:
    return Column(name, Kind.ID, required=True, description=description)


def _ref(name: str, target: str, required: bool = False) -> Column:
    return Column(name, Kind.REF, ref=target, required=required)


def _enum(name: str, *values: str, personal: bool = False) -> Column:
    return Column(name, Kind.ENUM, values=values, personal=personal)


def _p(name: str, kind: Kind) -> Column:
    """A personal column (masked in reports)."""
    return Column(name, kind, personal=True)


FILES: dict[str, FileSpec] = {
    spec.name: spec
    for spec in (
        FileSpec(
            "patients",
            (
                _id("PatientID"),
                _p("FirstName", Kind.NAME),
                _p("LastName", Kind.NAME),
                _p("MiddleInitial", Kind.NAME),
                _p("PreferredName", Kind.NAME),
                _p("DateOfBirth", Kind.DATE),
                _enum("Gender", "M", "F", "U", personal=True),
                _p("Email", Kind.EMAIL),
                _p("HomePhone", Kind.PHONE),
                _p("MobilePhone", Kind.PHONE),
                _p("WorkPhone", Kind.PHONE),
                _p("Address1", Kind.TEXT),
                _p("Address2", Kind.TEXT),
                Column("City", Kind.TEXT),
                Column("State", Kind.TEXT),
                _p("Zip", Kind.TEXT),
                Column("Country", Kind.TEXT),
                _enum(
                    "Status", "Active", "Inactive", "Archived", "Deceased", "Prospective", "Deleted"
                ),
                _ref("GuarantorID", "patients"),
                _ref("PrimaryProviderID", "providers"),
                _ref("HygienistID", "providers"),
                _ref("HomeLocationID", "locations"),
                Column("FirstVisitDate", Kind.DATE),
                Column("MarketingOptIn", Kind.YES_NO),
                Column("CreatedAt", Kind.DATETIME),
                Column("ModifiedAt", Kind.DATETIME),
            ),
            "Patients: one row per person in the practice.",
            id_column="PatientID",
        ),
        FileSpec(
            "providers",
            (
                _id("ProviderID"),
                Column("Abbreviation", Kind.TEXT),
                Column("FirstName", Kind.NAME),
                Column("LastName", Kind.NAME),
                Column("Suffix", Kind.TEXT),
                _enum("ProviderType", "Dentist", "Hygienist", "Assistant", "Specialist"),
                Column("Email", Kind.EMAIL),
                Column("NPI", Kind.NPI),
                Column("IsActive", Kind.YES_NO),
                _ref("LocationID", "locations"),
            ),
            "Dentists, hygienists, assistants and specialists.",
            id_column="ProviderID",
        ),
        FileSpec(
            "locations",
            (
                _id("LocationID"),
                Column("Name", Kind.TEXT, required=True),
                Column("Address1", Kind.TEXT),
                Column("Address2", Kind.TEXT),
                Column("City", Kind.TEXT),
                Column("State", Kind.TEXT),
                Column("Zip", Kind.TEXT),
                Column("Phone", Kind.PHONE),
                Column("Email", Kind.EMAIL),
                Column("TimeZone", Kind.TIMEZONE),
            ),
            "Practice sites.",
            id_column="LocationID",
        ),
        FileSpec(
            "insurance_carriers",
            (
                _id("CarrierID"),
                Column("CarrierName", Kind.TEXT, required=True),
                Column("PayerID", Kind.TEXT),
                Column("Address1", Kind.TEXT),
                Column("City", Kind.TEXT),
                Column("State", Kind.TEXT),
                Column("Zip", Kind.TEXT),
                Column("Phone", Kind.PHONE),
            ),
            "Insurance companies.",
            id_column="CarrierID",
        ),
        FileSpec(
            "patient_insurance",
            (
                _id("PatientInsuranceID"),
                _ref("PatientID", "patients", required=True),
                _ref("CarrierID", "insurance_carriers", required=True),
                Column("Ordinal", Kind.INT),
                _p("SubscriberID", Kind.TEXT),
                Column("GroupNumber", Kind.TEXT),
                Column("GroupName", Kind.TEXT),
                _p("SubscriberName", Kind.NAME),
                _enum("SubscriberRelationship", "Self", "Spouse", "Child", "Other"),
                Column("EffectiveDate", Kind.DATE),
                Column("TerminationDate", Kind.DATE),
            ),
            "A patient's coverage: 1 primary, 2 secondary, 3 tertiary.",
            id_column="PatientInsuranceID",
        ),
        FileSpec(
            "appointments",
            (
                _id("AppointmentID"),
                _ref("PatientID", "patients", required=True),
                Column("StartDateTime", Kind.DATETIME),
                Column("DurationMinutes", Kind.INT),
                _ref("ProviderID", "providers"),
                _ref("HygienistID", "providers"),
                Column("Operatory", Kind.TEXT),
                _ref("LocationID", "locations"),
                _enum("AppointmentType", "Scheduled", "Hygiene", "Recall", "Emergency", "Consult"),
                _enum(
                    "Status",
                    "Scheduled",
                    "Completed",
                    "Broken",
                    "NoShow",
                    "Cancelled",
                    "Unscheduled",
                ),
                Column("ProcedureCodes", Kind.CDT_LIST),
                _p("Note", Kind.LONG_TEXT),
                Column("CreatedAt", Kind.DATETIME),
                Column("ModifiedAt", Kind.DATETIME),
            ),
            "Chair appointments (practice-local times).",
            id_column="AppointmentID",
        ),
        FileSpec(
            "treatment_plans",
            (
                _id("TreatmentPlanID"),
                _ref("PatientID", "patients", required=True),
                Column("Title", Kind.TEXT),
                _enum("Status", "Proposed", "Accepted", "InProgress", "Completed", "Declined"),
                Column("TotalFee", Kind.MONEY),
                _ref("ProviderID", "providers"),
                Column("CreatedDate", Kind.DATE),
                Column("AcceptedDate", Kind.DATE),
                Column("ModifiedAt", Kind.DATETIME),
                _p("Note", Kind.LONG_TEXT),
            ),
            "Treatment plans.",
            id_column="TreatmentPlanID",
        ),
        FileSpec(
            "treatment_plan_items",
            (
                _id("ItemID"),
                _ref("TreatmentPlanID", "treatment_plans", required=True),
                Column("CDTCode", Kind.CDT),
                Column("Description", Kind.TEXT),
                Column("Tooth", Kind.TOOTH),
                Column("Surfaces", Kind.SURFACES),
                Column("Fee", Kind.MONEY),
                _enum("Status", "Planned", "Scheduled", "Completed"),
                Column("Priority", Kind.INT),
            ),
            "Procedures within a treatment plan.",
            id_column="ItemID",
        ),
        FileSpec(
            "recalls",
            (
                _id("RecallID"),
                _ref("PatientID", "patients", required=True),
                _enum(
                    "RecallType",
                    "Prophy",
                    "Perio",
                    "Exam",
                    "Bitewings",
                    "FullMouthXray",
                    "Fluoride",
                ),
                Column("IntervalMonths", Kind.INT),
                Column("LastRecallDate", Kind.DATE),
                Column("NextDueDate", Kind.DATE),
                Column("IsDisabled", Kind.YES_NO),
                _p("Note", Kind.LONG_TEXT),
            ),
            "Recall schedules: several per patient.",
            id_column="RecallID",
        ),
        FileSpec(
            "clinical_notes",
            (
                _id("NoteID"),
                _ref("PatientID", "patients", required=True),
                Column("NoteDateTime", Kind.DATETIME),
                _ref("ProviderID", "providers"),
                _enum("NoteType", "Clinical", "Progress", "Perio", "MedicalAlert"),
                _ref("TreatmentPlanID", "treatment_plans"),
                _enum("Format", "plain", "html", "rtf"),
                _p("Text", Kind.LONG_TEXT),
                Column("ModifiedAt", Kind.DATETIME),
            ),
            "Clinical and progress notes.",
            id_column="NoteID",
        ),
        FileSpec(
            "ledger_entries",
            (
                _id("EntryID"),
                _ref("PatientID", "patients", required=True),
                _ref("GuarantorID", "patients"),
                Column("EntryDate", Kind.DATE),
                _enum(
                    "EntryType",
                    "Charge",
                    "Payment",
                    "Adjustment",
                    "InsurancePayment",
                    "WriteOff",
                    "Refund",
                ),
                Column("Amount", Kind.MONEY),
                Column("CDTCode", Kind.CDT),
                Column("Tooth", Kind.TOOTH),
                _ref("ProviderID", "providers"),
                Column("Description", Kind.TEXT),
                Column("ClaimID", Kind.TEXT),
            ),
            "Financial ledger: charges, payments, adjustments.",
            id_column="EntryID",
        ),
        FileSpec(
            "lab_cases",
            (
                _id("LabCaseID"),
                _ref("PatientID", "patients", required=True),
                Column("LabName", Kind.TEXT),
                Column("LabPhone", Kind.PHONE),
                Column("LabEmail", Kind.EMAIL),
                _enum(
                    "CaseType", "Crown", "Bridge", "Implant", "OrthoDevice", "Denture", "NightGuard"
                ),
                _enum("Status", "InLab", "Returned", "ReCase", "Delivered"),
                Column("SentDate", Kind.DATE),
                Column("DueDate", Kind.DATE),
                Column("ReturnedDate", Kind.DATE),
                _ref("ProviderID", "providers"),
                Column("Fee", Kind.MONEY),
                _p("Instructions", Kind.LONG_TEXT),
            ),
            "Dental lab cases.",
            id_column="LabCaseID",
        ),
        FileSpec(
            "referrals",
            (
                _id("ReferralID"),
                _ref("PatientID", "patients", required=True),
                _enum("Direction", "Out", "In"),
                Column("SpecialistName", Kind.NAME),
                Column("PracticeName", Kind.TEXT),
                Column("Specialty", Kind.TEXT),
                Column("Email", Kind.EMAIL),
                Column("Phone", Kind.PHONE),
                Column("ReferralDate", Kind.DATE),
                _enum("Status", "Sent", "Scheduled", "Completed", "Declined"),
                _p("Reason", Kind.LONG_TEXT),
            ),
            "Specialist referrals, in and out.",
            id_column="ReferralID",
        ),
        FileSpec(
            "documents",
            (
                _id("DocumentID"),
                _ref("PatientID", "patients", required=True),
                Column("FileName", Kind.PATH),
                Column("Description", Kind.TEXT),
                _enum("DocumentType", "XRay", "Consent", "Photo", "Form", "Other"),
                Column("MimeType", Kind.MIME),
                Column("CreatedAt", Kind.DATETIME),
            ),
            "Documents; files live under documents/.",
            id_column="DocumentID",
        ),
        FileSpec(
            "custom_property_definitions",
            (
                Column("PropertyName", Kind.TEXT, required=True),
                _enum("PropertyType", "text", "number", "date", "boolean", "picklist"),
                Column("Options", Kind.TEXT),
                Column("Description", Kind.TEXT),
            ),
            "Practice-defined patient properties.",
            id_column="PropertyName",
        ),
        FileSpec(
            "patient_custom_properties",
            (
                _ref("PatientID", "patients", required=True),
                _ref("PropertyName", "custom_property_definitions", required=True),
                _p("Value", Kind.TEXT),
            ),
            "Values of practice-defined properties, one row per patient and property.",
        ),
        FileSpec(
            "automations",
            (
                _id("RuleID"),
                Column("Name", Kind.TEXT),
                Column("Trigger", Kind.TEXT),
                Column("Conditions", Kind.LONG_TEXT),
                Column("Actions", Kind.LONG_TEXT),
                Column("IsActive", Kind.YES_NO),
                Column("Notes", Kind.LONG_TEXT),
            ),
            "Workflow rules; they do not migrate, they become a rebuild reference.",
            id_column="RuleID",
        ),
    )
}

#: Load order of files for readers that resolve references (parents before children).
FILE_ORDER: tuple[str, ...] = tuple(FILES)

#: Spellings that mean "no value", compared after strip() and casefold().
NULL_SPELLINGS: frozenset[str] = frozenset({"", "null", "n/a", "na", "none", "nil", "(null)"})

#: Dates that mean "no date" in MDC exports.
NULL_DATE_SENTINELS: frozenset[str] = frozenset({"0000-00-00", "1900-01-01", "01/01/0001"})

#: Abbreviations and variants seen for enum values, keyed by casefolded, space-free spelling.
ENUM_ALIASES: dict[str, str] = {
    "complete": "Completed",
    "completed": "Completed",
    "done": "Completed",
    "inprogress": "InProgress",
    "in-progress": "InProgress",
    "in_progress": "InProgress",
    "wip": "InProgress",
    "noshow": "NoShow",
    "no-show": "NoShow",
    "no_show": "NoShow",
    "canceled": "Cancelled",
    "cancelled": "Cancelled",
    "cancel": "Cancelled",
    "sched": "Scheduled",
    "prop": "Proposed",
    "acc": "Accepted",
    "recase": "ReCase",
    "re-case": "ReCase",
    "inlab": "InLab",
    "in-lab": "InLab",
    "fmx": "FullMouthXray",
    "fullmouthxray": "FullMouthXray",
    "fullmouthx-ray": "FullMouthXray",
    "orthodevice": "OrthoDevice",
    "nightguard": "NightGuard",
    "insurancepayment": "InsurancePayment",
    "inspayment": "InsurancePayment",
    "inspmt": "InsurancePayment",
    "writeoff": "WriteOff",
    "write-off": "WriteOff",
    "medicalalert": "MedicalAlert",
    "xray": "XRay",
    "x-ray": "XRay",
    "male": "M",
    "female": "F",
    "unknown": "U",
}


def spec_for(filename: str) -> FileSpec | None:
    """The known spec for a CSV file name (``patients.csv`` or ``patients``), or None."""
    stem = filename.rsplit("/", 1)[-1]
    if stem.lower().endswith(".csv"):
        stem = stem[:-4]
    return FILES.get(stem.lower())


def parent_ref(file: str) -> str | None:
    """The column of ``file`` that names the patient its rows belong to (the required
    reference to patients first), or None for files that hang on no patient."""
    spec = FILES.get(file)
    if spec is None or file == "patients":
        return None
    refs = [c for c in spec.columns if c.kind is Kind.REF and c.ref == "patients"]
    refs.sort(key=lambda c: not c.required)
    return refs[0].name if refs else None


def _snake(name: str) -> str:
    import re

    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def role(file: str, name: str) -> str:
    """The MDC column a rows-by-role reader keys a value under, by its snake-case name
    (``role("lab_cases", "case_type")`` → ``CaseType``). Raises KeyError for a role the file
    does not declare, so a typo fails loudly instead of reading nothing."""
    spec = FILES[file]
    for col in spec.columns:
        if _snake(col.name) == name or col.name == name:
            return col.name
    raise KeyError(f"{file} has no column {name!r} (roles: {', '.join(spec.column_names)})")
