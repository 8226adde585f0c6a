"""The field map for the MDC format as the product spec describes it, one rule per known column.

Each rule says where a column goes in Pipedrive, through which transform, and why. The
proposer starts from these rules and uses their synonyms to place columns it has never seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from flitstack.mapping.workbook import CustomField, ObjectMap, Pipeline, ValueMap

#: The custom field every created record carries so a lost write can be found again.
SOURCE_ID_FIELD = "mdc_source_id__c"

#: Field names the practice's staff read in Pipedrive, where the technical key says it poorly;
#: any other key is read as words (``date_of_birth__c`` → "Date of birth").
FIELD_LABELS = {
    "mdc_source_id__c": "MDC ID",
    "recall_interval_months__c": "Recall interval (months)",
    "guarantor_mdc_id__c": "Guarantor (MDC ID)",
    "payer_id__c": "Payer ID",
    "subscriber_id__c": "Subscriber ID",
    "sent_to_lab__c": "Sent to lab",
    "created_in_mdc__c": "Created in MDC",
    "email__c": "E-mail",
    "marketing_opt_in__c": "Marketing opt-in",
}
_WORDS = {"mdc": "MDC", "id": "ID", "cdt": "CDT", "npi": "NPI", "dob": "date of birth"}


def field_label(key: str) -> str:
    """The name a custom field is created with in Pipedrive: ``outstanding_balance__c`` →
    "Outstanding balance". The key stays the field's identity in the workbook and the state."""
    if key in FIELD_LABELS:
        return FIELD_LABELS[key]
    if not key.endswith("__c"):
        return key  # a practice's own property keeps the name it has in MDC
    words = [_WORDS.get(w, w) for w in key.removesuffix("__c").split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


LOCATION_TYPE_FIELD = "location_type__c"
LOCATION_TYPES = ["Practice Location", "Insurance Carrier", "Dental Lab", "Referral Practice"]
YES_NO = ["Yes", "No"]


@dataclass(frozen=True)
class Rule:
    """Where one known column goes."""

    target: str | None  # person, organization, deal, activity, note, file, user; None: skipped
    field: str | None = None  # standard field key (or engine role: name, phones, ref…)
    custom: CustomField | None = None
    transform: str = "text"
    options: dict[str, Any] = dc_field(default_factory=dict)
    reason: str = ""
    synonyms: tuple[str, ...] = ()


def _c(name: str, field_type: str = "varchar", options: list[str] | None = None) -> CustomField:
    return CustomField(name=name, field_type=field_type, options=options or [])


def _skip(reason: str, *synonyms: str) -> Rule:
    return Rule(None, transform="none", reason=reason, synonyms=synonyms)


def _source_id(target: str, *synonyms: str) -> Rule:
    return Rule(
        target,
        "source_id",
        _c(SOURCE_ID_FIELD),
        "text",
        reason="kept as the MDC source ID so every record can be found again (exactly-once loads)",
        synonyms=synonyms,
    )


def _ref(target: str, field_key: str, ref: str, reason: str, *synonyms: str) -> Rule:
    return Rule(target, field_key, None, "ref", {"ref": ref}, reason, synonyms)


_MODIFIED = _skip(
    "read for delta pickup (changed since the snapshot); not stored in Pipedrive",
    "modified",
    "last modified",
    "updated",
    "last updated",
    "changed",
    "modified date",
)
_ADDRESS_PARTS = {"Address1": 1, "Address2": 2, "City": 3, "State": 4, "Zip": 5, "Country": 6}


def _address(target: str, column: str, custom: CustomField | None, *synonyms: str) -> Rule:
    key = "address" if custom is None else "address_text"
    return Rule(
        target,
        key,
        custom,
        "text",
        {"part": _ADDRESS_PARTS[column]},
        f"part {_ADDRESS_PARTS[column]} of the postal address, joined in order",
        synonyms,
    )


_PERSON_ADDRESS = _c("address__c")

RULES: dict[tuple[str, str], Rule] = {
    # --- patients → Person ------------------------------------------------------------------------
    ("patients", "PatientID"): _source_id("person", "patient id", "pt id", "patient number", "id"),
    ("patients", "FirstName"): Rule(
        "person", "name", None, "name", {"part": 1}, "first part of the Person name",
        ("first", "fname", "first name", "given name", "pt first", "patient first name"),
    ),
    ("patients", "MiddleInitial"): Rule(
        "person", "name", None, "name", {"part": 2}, "middle part of the Person name",
        ("middle", "mi", "middle name", "pt middle"),
    ),
    ("patients", "LastName"): Rule(
        "person", "name", None, "name", {"part": 3}, "last part of the Person name",
        ("last", "lname", "last name", "surname", "family name", "pt last", "patient last name"),
    ),
    ("patients", "PreferredName"): Rule(
        "person", None, _c("preferred_name__c"), "name", reason="no standard field: custom text",
        synonyms=("nickname", "preferred", "goes by", "pt preferred"),
    ),
    ("patients", "DateOfBirth"): Rule(
        "person", None, _c("date_of_birth__c", "date"), "date", {"past_only": True},
        reason="Pipedrive has no birth date field: custom date field (never after the export)",
        synonyms=("dob", "birth date", "birthdate", "birthday", "date of birth", "pt dob"),
    ),
    ("patients", "Gender"): Rule(
        "person", None, _c("gender__c", "enum", ["M", "F", "U"]), "picklist",
        reason="small fixed value set: custom single-option field",
        synonyms=("sex", "gender", "pt sex"),
    ),
    ("patients", "Email"): Rule(
        "person", "emails", None, "email", {"label": "home", "primary": True},
        "Person e-mail; invalid or missing e-mails are left empty and flagged for manual review",
        ("email", "e mail", "e-mail address", "email address", "mail", "pt email"),
    ),
    ("patients", "HomePhone"): Rule(
        "person", "phones", None, "phone_e164", {"label": "home"}, "Person phone, label home",
        ("home phone", "home", "phone", "telephone", "home tel", "phone number"),
    ),
    ("patients", "MobilePhone"): Rule(
        "person", "phones", None, "phone_e164", {"label": "mobile", "primary": True},
        "Person phone, label mobile (primary)",
        ("mobile", "cell", "cell phone", "cell #", "cell number", "mobile phone", "cellular"),
    ),
    ("patients", "WorkPhone"): Rule(
        "person", "phones", None, "phone_e164", {"label": "work"}, "Person phone, label work",
        ("work phone", "work", "office phone", "business phone", "work tel"),
    ),
    ("patients", "Address1"): _address("person", "Address1", _PERSON_ADDRESS, "street", "address"),
    ("patients", "Address2"): _address("person", "Address2", _PERSON_ADDRESS, "apt", "suite"),
    ("patients", "City"): _address("person", "City", _PERSON_ADDRESS, "town", "city"),
    ("patients", "State"): _address("person", "State", _PERSON_ADDRESS, "st", "province"),
    ("patients", "Zip"): _address("person", "Zip", _PERSON_ADDRESS, "zip code", "postal code"),
    ("patients", "Country"): _address("person", "Country", _PERSON_ADDRESS, "country"),
    ("patients", "Status"): Rule(
        "person", None,
        _c("patient_status__c", "enum",
           ["Active", "Inactive", "Archived", "Deceased", "Prospective", "Deleted"]),
        "picklist", {"skip_values": ["Deleted"]},
        "patient status as a custom option; patients marked Deleted are not migrated (reported)",
        ("status", "patient status", "pt status", "active"),
    ),
    ("patients", "GuarantorID"): Rule(
        "person", None, _c("guarantor_mdc_id__c"), "text",
        reason="the family's guarantor, by MDC patient ID (families share one)",
        synonyms=("guarantor", "responsible party", "guarantor id"),
    ),
    ("patients", "PrimaryProviderID"): _ref(
        "person", "owner_id", "providers",
        "the primary provider resolved to a Pipedrive user by e-mail owns the Person",
        "provider", "primary provider", "dentist", "doctor",
    ),
    ("patients", "HygienistID"): Rule(
        "person", None, _c("hygienist__c"), "provider_name", {"ref": "providers"},
        "hygienist's name (Pipedrive allows one owner)", ("hygienist", "rdh"),
    ),
    ("patients", "HomeLocationID"): Rule(
        "person", None, _c("home_location__c"), "location_name", {"ref": "locations"},
        "home location name, as the spec's home_location__c",
        ("home location", "location", "office"),
    ),
    ("patients", "FirstVisitDate"): Rule(
        "person", None, _c("first_visit_date__c", "date"), "date", reason="custom date field",
        synonyms=("first visit", "first seen", "new patient date"),
    ),
    ("patients", "MarketingOptIn"): Rule(
        "person", None, _c("marketing_opt_in__c", "enum", YES_NO), "bool_yes_no",
        {"marketing_status": True},
        "marketing flag as the spec's marketing_opt_in__c (Yes/No); also sets marketing status",
        ("marketing", "opt in", "email opt in", "newsletter", "marketing consent"),
    ),
    ("patients", "CreatedAt"): Rule(
        "person", "add_time", None, "datetime", reason="original creation time kept (add_time)",
        synonyms=("created", "created at", "date created", "entered"),
    ),
    ("patients", "ModifiedAt"): _MODIFIED,
    # --- providers → User (resolved by e-mail) ----------------------------------------------------
    ("providers", "ProviderID"): Rule(
        "user", "source_id", None, "text", reason="key of the provider → user resolution"
    ),
    ("providers", "Email"): Rule(
        "user", "email", None, "email", reason="providers are matched to Pipedrive users by e-mail"
    ),
    ("providers", "FirstName"): Rule(
        "user", "name", None, "name", {"part": 1}, "shown in the provider resolution report"
    ),
    ("providers", "LastName"): Rule(
        "user", "name", None, "name", {"part": 2}, "shown in the provider resolution report"
    ),
    ("providers", "Abbreviation"): _skip("users are not created; shown in the resolution report"),
    ("providers", "Suffix"): _skip("users are not created; shown in the resolution report"),
    ("providers", "ProviderType"): _skip("users are not created; shown in the resolution report"),
    ("providers", "NPI"): _skip("clinical licensing stays in MDC; Pipedrive users have no NPI"),
    ("providers", "IsActive"): _skip("users are managed in Pipedrive's admin, not migrated"),
    ("providers", "LocationID"): _skip("users are managed in Pipedrive's admin, not migrated"),
    # --- locations → Organization -----------------------------------------------------------------
    ("locations", "LocationID"): _source_id("organization"),
    ("locations", "Name"): Rule("organization", "name", None, "text", reason="Organization name"),
    ("locations", "Address1"): _address("organization", "Address1", None),
    ("locations", "Address2"): _address("organization", "Address2", None),
    ("locations", "City"): _address("organization", "City", None),
    ("locations", "State"): _address("organization", "State", None),
    ("locations", "Zip"): _address("organization", "Zip", None),
    ("locations", "Phone"): Rule(
        "organization", None, _c("phone__c", "phone"), "phone_e164",
        reason="Organizations have no standard phone: custom phone field",
    ),
    ("locations", "Email"): Rule(
        "organization", None, _c("email__c"), "email", reason="custom text field"
    ),
    ("locations", "TimeZone"): Rule(
        "organization", None, _c("time_zone__c"), "text", reason="custom text field"
    ),
    # --- insurance carriers → Organization --------------------------------------------------------
    ("insurance_carriers", "CarrierID"): _source_id("organization"),
    ("insurance_carriers", "CarrierName"): Rule(
        "organization", "name", None, "text", {"dedupe": True},
        "Organization name; carriers with the same name become one Organization",
    ),
    ("insurance_carriers", "PayerID"): Rule(
        "organization", None, _c("payer_id__c"), "text", reason="custom text field"
    ),
    ("insurance_carriers", "Address1"): _address("organization", "Address1", None),
    ("insurance_carriers", "City"): _address("organization", "City", None),
    ("insurance_carriers", "State"): _address("organization", "State", None),
    ("insurance_carriers", "Zip"): _address("organization", "Zip", None),
    ("insurance_carriers", "Phone"): Rule(
        "organization", None, _c("phone__c", "phone"), "phone_e164", reason="custom phone field"
    ),
    # --- patient insurance → Person org link + Person custom fields -------------------------------
    ("patient_insurance", "PatientInsuranceID"): _skip(
        "coverage rows merge into their patient's Person; no record of their own"
    ),
    ("patient_insurance", "PatientID"): _ref(
        "person", "person_ref", "patients", "the Person this coverage belongs to"
    ),
    ("patient_insurance", "CarrierID"): _ref(
        "person", "insurance_org", "insurance_carriers",
        "primary carrier → Person org_id; secondary/tertiary → org-link custom fields",
    ),
    ("patient_insurance", "Ordinal"): Rule(
        "person", "insurance_ordinal", None, "int", reason="1 primary, 2 secondary, 3 tertiary"
    ),
    ("patient_insurance", "SubscriberID"): Rule(
        "person", None, _c("subscriber_id__c"), "text", {"ordinal": 1},
        "primary coverage's subscriber ID (spec's subscriber_id__c)",
    ),
    ("patient_insurance", "GroupNumber"): Rule(
        "person", None, _c("group_number__c"), "text", {"ordinal": 1},
        "primary coverage's group number (spec's group_number__c)",
    ),
    ("patient_insurance", "GroupName"): Rule(
        "person", None, _c("group_name__c"), "text", {"ordinal": 1}, "primary coverage's group"
    ),
    ("patient_insurance", "SubscriberName"): Rule(
        "person", None, _c("subscriber_name__c"), "name", {"ordinal": 1}, "primary subscriber"
    ),
    ("patient_insurance", "SubscriberRelationship"): Rule(
        "person", None,
        _c("subscriber_relationship__c", "enum", ["Self", "Spouse", "Child", "Other"]),
        "picklist", {"ordinal": 1}, "spec's subscriber_relationship__c",
    ),
    ("patient_insurance", "EffectiveDate"): Rule(
        "person", None, _c("insurance_effective_date__c", "date"), "date", {"ordinal": 1},
        "primary coverage start",
    ),
    ("patient_insurance", "TerminationDate"): Rule(
        "person", None, _c("insurance_termination_date__c", "date"), "date", {"ordinal": 1},
        "primary coverage end",
    ),
    # --- appointments → Activity ------------------------------------------------------------------
    ("appointments", "AppointmentID"): Rule(
        "activity", "source_id", None, "text",
        reason="Pipedrive activities take no custom fields: the ID goes in the activity note",
    ),
    ("appointments", "PatientID"): _ref("activity", "person_id", "patients", "the patient"),
    ("appointments", "StartDateTime"): Rule(
        "activity", "due", None, "due_datetime", reason="original date and time (UTC)"
    ),
    ("appointments", "DurationMinutes"): Rule(
        "activity", "duration", None, "duration", reason="activity duration HH:MM"
    ),
    ("appointments", "ProviderID"): _ref(
        "activity", "owner_id", "providers", "provider resolved to a user owns the activity"
    ),
    ("appointments", "HygienistID"): Rule(
        "activity", "note_line", None, "provider_name", {"ref": "providers", "label": "Hygienist"},
        "no activity custom fields in Pipedrive: hygienist named in the activity note",
    ),
    ("appointments", "Operatory"): Rule(
        "activity", "note_line", None, "text", {"label": "Operatory"},
        "operatory named in the activity note (activities take no custom fields)",
    ),
    ("appointments", "LocationID"): Rule(
        "activity", "location", None, "location_name", {"ref": "locations"}, "activity location"
    ),
    ("appointments", "AppointmentType"): Rule(
        "activity", "type", None, "value_map", {"value_map": "appointment_type"},
        "activity type through the appointment_type value map",
    ),
    ("appointments", "Status"): Rule(
        "activity", "done", None, "value_map", {"value_map": "appointment_status"},
        "done flag through the appointment_status value map; status named in the subject",
    ),
    ("appointments", "ProcedureCodes"): Rule(
        "activity", "note_line", None, "cdt_list", {"label": "Procedures"}, "CDT codes in the note"
    ),
    ("appointments", "Note"): Rule(
        "activity", "note", None, "note_html", reason="appointment note → activity note"
    ),
    ("appointments", "CreatedAt"): _skip("Pipedrive sets an activity's add_time itself"),
    ("appointments", "ModifiedAt"): _MODIFIED,
    # --- treatment plans → Deal -------------------------------------------------------------------
    ("treatment_plans", "TreatmentPlanID"): _source_id("deal"),
    ("treatment_plans", "PatientID"): _ref("deal", "person_id", "patients", "the patient"),
    ("treatment_plans", "Title"): Rule("deal", "title", None, "text", reason="Deal title"),
    ("treatment_plans", "Status"): Rule(
        "deal", "stage", None, "value_map", {"value_map": "treatment_plan_status"},
        "stage (and won/lost) through the treatment_plan_status value map",
    ),
    ("treatment_plans", "TotalFee"): Rule(
        "deal", "value", None, "money", reason="total fee becomes the Deal value"
    ),
    ("treatment_plans", "ProviderID"): _ref("deal", "owner_id", "providers", "Deal owner"),
    ("treatment_plans", "CreatedDate"): Rule(
        "deal", None, _c("created_in_mdc__c", "date"), "date",
        reason="original creation date, in a date field: Pipedrive's v2 deals take no add_time",
    ),
    ("treatment_plans", "AcceptedDate"): Rule(
        "deal", None, _c("accepted_date__c", "date"), "date", reason="custom date field"
    ),
    ("treatment_plans", "ModifiedAt"): _MODIFIED,
    ("treatment_plans", "Note"): Rule(
        "note", "deal_note", None, "note_html", reason="plan note → Note on the Deal"
    ),
    # --- treatment plan items → Deal custom field -------------------------------------------------
    ("treatment_plan_items", "ItemID"): _skip("items merge into their plan's Deal"),
    ("treatment_plan_items", "TreatmentPlanID"): _ref(
        "deal", "deal_ref", "treatment_plans", "the plan's Deal"
    ),
    ("treatment_plan_items", "CDTCode"): Rule(
        "deal", None, _c("planned_procedures__c", "text"), "cdt", {"item": "code"},
        "one line per item in the Deal's planned_procedures__c",
    ),
    ("treatment_plan_items", "Description"): Rule(
        "deal", None, _c("planned_procedures__c", "text"), "text", {"item": "description"},
        "one line per item in the Deal's planned_procedures__c",
    ),
    ("treatment_plan_items", "Tooth"): Rule(
        "deal", None, _c("planned_procedures__c", "text"), "tooth", {"item": "tooth"},
        "tooth in the target notation, in the item's line",
    ),
    ("treatment_plan_items", "Surfaces"): Rule(
        "deal", None, _c("planned_procedures__c", "text"), "surfaces", {"item": "surfaces"},
        "surfaces, in the item's line",
    ),
    ("treatment_plan_items", "Fee"): Rule(
        "deal", None, _c("planned_procedures__c", "text"), "money_value", {"item": "fee"},
        "fee, in the item's line",
    ),
    ("treatment_plan_items", "Status"): Rule(
        "deal", None, _c("planned_procedures__c", "text"), "text", {"item": "status"},
        "status, in the item's line",
    ),
    ("treatment_plan_items", "Priority"): Rule(
        "deal", None, _c("planned_procedures__c", "text"), "int", {"item": "priority"},
        "orders the item lines",
    ),
    # --- recalls (many:1) → Person custom fields + last recall Task -------------------------------
    ("recalls", "RecallID"): _skip("recalls merge into their patient (many:1)"),
    ("recalls", "PatientID"): _ref("person", "person_ref", "patients", "the patient"),
    ("recalls", "RecallType"): Rule(
        "person", None,
        _c("recall_type__c", "enum",
           ["Prophy", "Perio", "Exam", "Bitewings", "FullMouthXray", "Fluoride"]),
        "picklist", reason="type of the next due recall (spec's recall_type__c)",
    ),
    ("recalls", "IntervalMonths"): Rule(
        "person", None, _c("recall_interval_months__c", "double"), "interval_months",
        reason="interval of the next due recall, in months (6, 6m, 1y, 26w…)",
    ),
    ("recalls", "LastRecallDate"): Rule(
        "activity", "recall_task", None, "date",
        reason="the most recent recall visit becomes a done Task flagged [Recall]",
    ),
    ("recalls", "NextDueDate"): Rule(
        "person", None, _c("next_recall_date__c", "date"), "date",
        reason="earliest next due date of the patient's active recalls",
    ),
    ("recalls", "IsDisabled"): Rule(
        "person", "recall_disabled", None, "bool_yes_no", reason="disabled recalls are not due"
    ),
    ("recalls", "Note"): _skip("recall notes are reminders for the old system's sequences"),
    # --- clinical notes → Note --------------------------------------------------------------------
    ("clinical_notes", "NoteID"): Rule(
        "note", "source_id", None, "text", reason="named in the note's footer so it can be found"
    ),
    ("clinical_notes", "PatientID"): _ref("note", "person_id", "patients", "Note on the Person"),
    ("clinical_notes", "NoteDateTime"): Rule(
        "note", "add_time", None, "datetime", reason="original note time kept"
    ),
    ("clinical_notes", "ProviderID"): Rule(
        "note", "header", None, "provider_name", {"ref": "providers"}, "author named in the note"
    ),
    ("clinical_notes", "NoteType"): Rule(
        "note", "header", None, "text", reason="note type named in the note"
    ),
    ("clinical_notes", "TreatmentPlanID"): _ref(
        "note", "deal_id", "treatment_plans", "a note about a plan is also attached to its Deal"
    ),
    ("clinical_notes", "Format"): Rule(
        "note", "format", None, "text", reason="plain/HTML/RTF, read to keep formatting"
    ),
    ("clinical_notes", "Text"): Rule(
        "note", "content", None, "note_html", reason="note body as safe Pipedrive note HTML"
    ),
    ("clinical_notes", "ModifiedAt"): _MODIFIED,
    # --- ledger → Person custom fields + CSV attachment + note ------------------------------------
    ("ledger_entries", "EntryID"): Rule(
        "file", "ledger", None, "text", reason="every entry is in the ledger CSV attachment"
    ),
    ("ledger_entries", "PatientID"): _ref("person", "person_ref", "patients", "the patient"),
    ("ledger_entries", "GuarantorID"): Rule(
        "file", "ledger", None, "text", reason="kept in the ledger CSV attachment"
    ),
    ("ledger_entries", "EntryDate"): Rule(
        "person", None, _c("last_payment_date__c", "date"), "date",
        reason="date of the last payment (spec's last_payment_date__c); all dates in the CSV",
    ),
    ("ledger_entries", "EntryType"): Rule(
        "file", "ledger", None, "text", reason="decides payments vs charges; kept in the CSV"
    ),
    ("ledger_entries", "Amount"): Rule(
        "person", None, _c("outstanding_balance__c", "monetary"), "money",
        reason="sum → outstanding_balance__c; last payment → last_payment_amount__c",
    ),
    ("ledger_entries", "CDTCode"): Rule("file", "ledger", None, "text", reason="kept in the CSV"),
    ("ledger_entries", "Tooth"): Rule("file", "ledger", None, "text", reason="kept in the CSV"),
    ("ledger_entries", "ProviderID"): Rule(
        "file", "ledger", None, "text", reason="kept in the CSV"
    ),
    ("ledger_entries", "Description"): Rule(
        "file", "ledger", None, "text", reason="kept in the CSV"
    ),
    ("ledger_entries", "ClaimID"): Rule("file", "ledger", None, "text", reason="kept in the CSV"),
    # --- lab cases → Deal + lab Organization ------------------------------------------------------
    ("lab_cases", "LabCaseID"): _source_id("deal"),
    ("lab_cases", "PatientID"): _ref("deal", "person_id", "patients", "the patient"),
    ("lab_cases", "LabName"): Rule(
        "organization", "name", None, "text", {"dedupe": True, "org_type": "Dental Lab"},
        "the lab becomes an Organization linked to the Deal",
    ),
    ("lab_cases", "LabPhone"): Rule(
        "organization", None, _c("phone__c", "phone"), "phone_e164", reason="lab's phone"
    ),
    ("lab_cases", "LabEmail"): Rule(
        "organization", None, _c("email__c"), "email", reason="lab's e-mail"
    ),
    ("lab_cases", "CaseType"): Rule(
        "deal", None,
        _c("lab_case_type__c", "enum",
           ["Crown", "Bridge", "Implant", "OrthoDevice", "Denture", "NightGuard", "Referral"]),
        "picklist", reason="spec's lab_case_type__c",
    ),
    ("lab_cases", "Status"): Rule(
        "deal", "stage", None, "value_map", {"value_map": "lab_case_status"},
        "stage through the lab_case_status value map",
    ),
    ("lab_cases", "SentDate"): Rule(
        "deal", None, _c("sent_to_lab__c", "date"), "date",
        reason="date the case was sent, in a date field (v2 deals take no add_time)",
    ),
    ("lab_cases", "DueDate"): Rule(
        "deal", "expected_close_date", None, "date", reason="due back from the lab"
    ),
    ("lab_cases", "ReturnedDate"): Rule(
        "deal", None, _c("returned_date__c", "date"), "date", reason="custom date field"
    ),
    ("lab_cases", "ProviderID"): _ref("deal", "owner_id", "providers", "Deal owner"),
    ("lab_cases", "Fee"): Rule("deal", "value", None, "money", reason="lab fee as Deal value"),
    ("lab_cases", "Instructions"): Rule(
        "note", "deal_note", None, "note_html", reason="instructions → Note on the Deal"
    ),
    # --- referrals → Deal + specialist practice Organization --------------------------------------
    ("referrals", "ReferralID"): _source_id("deal"),
    ("referrals", "PatientID"): _ref("deal", "person_id", "patients", "the patient"),
    ("referrals", "Direction"): Rule(
        "deal", "title_part", None, "text", reason="in/out named in the Deal title"
    ),
    ("referrals", "SpecialistName"): Rule(
        "deal", "title_part", None, "name", reason="specialist named in the Deal title"
    ),
    ("referrals", "PracticeName"): Rule(
        "organization", "name", None, "text", {"dedupe": True, "org_type": "Referral Practice"},
        "the specialist practice becomes an Organization linked to the Deal",
    ),
    ("referrals", "Specialty"): Rule(
        "deal", "title_part", None, "text", reason="specialty named in the Deal title"
    ),
    ("referrals", "Email"): Rule("organization", None, _c("email__c"), "email", reason="e-mail"),
    ("referrals", "Phone"): Rule(
        "organization", None, _c("phone__c", "phone"), "phone_e164", reason="phone"
    ),
    ("referrals", "ReferralDate"): Rule(
        "deal", None, _c("referral_date__c", "date"), "date",
        reason="date of the referral, in a date field (v2 deals take no add_time)",
    ),
    ("referrals", "Status"): Rule(
        "deal", "stage", None, "value_map", {"value_map": "referral_status"},
        "stage through the referral_status value map",
    ),
    ("referrals", "Reason"): Rule("note", "deal_note", None, "note_html", reason="reason → Note"),
    # --- documents → File -------------------------------------------------------------------------
    ("documents", "DocumentID"): Rule("file", "source_id", None, "text", reason="in file name"),
    ("documents", "PatientID"): _ref("file", "person_id", "patients", "File on the Person"),
    ("documents", "FileName"): Rule("file", "path", None, "text", reason="the file uploaded"),
    ("documents", "Description"): Rule(
        "file", "name_part", None, "text", reason="part of the uploaded file's name"
    ),
    ("documents", "DocumentType"): Rule(
        "file", "name_part", None, "text", reason="part of the uploaded file's name"
    ),
    ("documents", "MimeType"): Rule("file", "mime", None, "text", reason="upload content type"),
    ("documents", "CreatedAt"): _skip("Pipedrive sets a file's add_time itself"),
    # --- custom properties → Person custom fields -------------------------------------------------
    ("custom_property_definitions", "PropertyName"): Rule(
        "person", "property_definition", None, "text",
        reason="each definition becomes a Person custom field of the closest type",
    ),
    ("custom_property_definitions", "PropertyType"): Rule(
        "person", "property_definition", None, "text", reason="picks the custom field type"
    ),
    ("custom_property_definitions", "Options"): Rule(
        "person", "property_definition", None, "text", reason="picklist options"
    ),
    ("custom_property_definitions", "Description"): _skip("Pipedrive fields have no description"),
    ("patient_custom_properties", "PatientID"): _ref(
        "person", "person_ref", "patients", "the patient"
    ),
    ("patient_custom_properties", "PropertyName"): Rule(
        "person", "property_name", None, "text", reason="which custom field"
    ),
    ("patient_custom_properties", "Value"): Rule(
        "person", "property_value", None, "property", reason="value by the property's type"
    ),
    # --- automations → rebuild reference ----------------------------------------------------------
    **{
        ("automations", c): _skip(
            "automations do not migrate: exported as a rebuild reference "
            "(flitstack rebuild-reference)"
        )
        for c in ("RuleID", "Name", "Trigger", "Conditions", "Actions", "IsActive", "Notes")
    },
}  # fmt: skip

#: The primary Pipedrive object each known file feeds (for unknown extra columns).
FILE_TARGET: dict[str, str | None] = {
    "patients": "person",
    "providers": None,
    "locations": "organization",
    "insurance_carriers": "organization",
    "patient_insurance": "person",
    "appointments": None,  # activities take no custom fields
    "treatment_plans": "deal",
    "treatment_plan_items": None,
    "recalls": None,
    "clinical_notes": None,
    "ledger_entries": None,
    "lab_cases": "deal",
    "referrals": "deal",
    "documents": None,
    "custom_property_definitions": None,
    "patient_custom_properties": None,
    "automations": None,
}

OBJECTS: list[ObjectMap] = [
    ObjectMap(source="Patient", files=["patients"], targets=["person"], cardinality="1:1",
              how="each patient is a Person; name, birth date, phones, e-mail, address, status"),
    ObjectMap(source="Primary insurance carrier", files=["insurance_carriers", "patient_insurance"],
              targets=["organization"], cardinality="1:1",
              how="carriers deduplicated by name become Organizations; the primary one is the "
                  "Person's org_id, secondary/tertiary go in org-link custom fields"),
    ObjectMap(source="Appointment", files=["appointments"], targets=["activity"],
              cardinality="1:1", how="Activity with original date, time, duration and owner"),
    ObjectMap(source="Treatment plan", files=["treatment_plans", "treatment_plan_items"],
              targets=["deal"], cardinality="1:1",
              how="Deal: total fee as value, status as stage; items listed in a custom field"),
    ObjectMap(source="Provider", files=["providers"], targets=["user"], cardinality="1:1",
              how="matched to a Pipedrive user by e-mail, else the fallback owner"),
    ObjectMap(source="Recall record", files=["recalls"], targets=["person", "activity"],
              cardinality="many:1",
              how="next due recall as Person custom fields; last recall visit as a done Task"),
    ObjectMap(source="Clinical note", files=["clinical_notes"], targets=["note"],
              cardinality="1:1", how="Note on the Person, also on the Deal of its plan"),
    ObjectMap(source="Ledger", files=["ledger_entries"], targets=["person", "file", "note"],
              cardinality="1:1",
              how="balance and last payment as Person fields; history as a CSV file + note"),
    ObjectMap(source="Lab case / referral", files=["lab_cases", "referrals"],
              targets=["deal", "organization"], cardinality="1:1",
              how="Deal in its pipeline, the lab or specialist practice as its Organization"),
    ObjectMap(source="Custom patient property",
              files=["custom_property_definitions", "patient_custom_properties"],
              targets=["person"], cardinality="1:1",
              how="each property a Person custom field of the closest type"),
    ObjectMap(source="Location", files=["locations"], targets=["organization"],
              cardinality="1:many",
              how="Organization with location_type__c = Practice Location; "
                  "patients tagged by home_location__c"),
    ObjectMap(source="Marketing flag", files=["patients"], targets=["person"], cardinality="1:1",
              how="marketing_opt_in__c (Yes/No) on the Person"),
    ObjectMap(source="Document", files=["documents"], targets=["file"], cardinality="1:1",
              how="uploaded as a File on the Person"),
    ObjectMap(source="Automation", files=["automations"], targets=[], cardinality="none",
              how="does not migrate: exported as a rebuild reference"),
]  # fmt: skip

PIPELINES: list[Pipeline] = [
    Pipeline(name="Treatment plans", stages=["Proposed", "Accepted", "In progress", "Completed"]),
    Pipeline(name="Lab cases", stages=["In lab", "Returned", "Re-case", "Delivered"]),
    Pipeline(name="Referrals", stages=["Sent", "Scheduled", "Completed"]),
]

VALUE_MAPS: list[ValueMap] = [
    ValueMap(name="treatment_plan_status", file="treatment_plans", column="Status",
             target="stage", pipeline="Treatment plans",
             values={"Proposed": "Proposed", "Accepted": "Accepted", "InProgress": "In progress",
                     "Completed": "Completed", "Declined": "Proposed"}),
    ValueMap(name="treatment_plan_outcome", file="treatment_plans", column="Status",
             target="deal_status",
             values={"Proposed": "open", "Accepted": "open", "InProgress": "open",
                     "Completed": "won", "Declined": "lost"}),
    ValueMap(name="lab_case_status", file="lab_cases", column="Status", target="stage",
             pipeline="Lab cases",
             values={"InLab": "In lab", "Returned": "Returned", "ReCase": "Re-case",
                     "Delivered": "Delivered"}),
    ValueMap(name="lab_case_outcome", file="lab_cases", column="Status", target="deal_status",
             values={"InLab": "open", "Returned": "open", "ReCase": "open", "Delivered": "won"}),
    ValueMap(name="referral_status", file="referrals", column="Status", target="stage",
             pipeline="Referrals",
             values={"Sent": "Sent", "Scheduled": "Scheduled", "Completed": "Completed",
                     "Declined": "Sent"}),
    ValueMap(name="referral_outcome", file="referrals", column="Status", target="deal_status",
             values={"Sent": "open", "Scheduled": "open", "Completed": "won", "Declined": "lost"}),
    ValueMap(name="appointment_type", file="appointments", column="AppointmentType",
             target="activity_type",
             values={"Scheduled": "meeting", "Hygiene": "meeting", "Recall": "meeting",
                     "Emergency": "meeting", "Consult": "meeting"}),
    ValueMap(name="appointment_status", file="appointments", column="Status", target="done",
             values={"Scheduled": "open", "Completed": "done", "Broken": "done", "NoShow": "done",
                     "Cancelled": "done", "Unscheduled": "open"}),
]  # fmt: skip

#: More names practices give known columns, beside each rule's own synonyms (dental front-office
#: vocabulary: "Tx" plans, "Op" chairs, "RDH" hygienists, transactions for ledger entries…).
EXTRA_SYNONYMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("patients", "MiddleInitial"): ("m i", "middle init"),
    ("patients", "HygienistID"): ("hygienist", "rdh", "hyg"),
    ("patients", "PrimaryProviderID"): ("primary dentist", "dentist", "doctor"),
    ("providers", "ProviderType"): ("type", "role", "provider type"),
    ("providers", "Abbreviation"): ("abbr", "abbrev", "initials", "code"),
    ("locations", "Name"): ("office name", "location name", "clinic name", "site name"),
    ("locations", "TimeZone"): ("tz", "time zone", "timezone"),
    ("insurance_carriers", "CarrierName"): ("carrier", "insurance company", "insurer",
                                            "payer name"),
    ("patient_insurance", "PatientInsuranceID"): ("coverage", "coverage id", "policy id"),
    ("appointments", "StartDateTime"): ("start", "start time", "appointment start", "date time",
                                        "scheduled for", "appt date"),
    ("appointments", "DurationMinutes"): ("length", "length min", "duration", "minutes", "mins"),
    ("appointments", "ProviderID"): ("dentist", "doctor", "provider"),
    ("appointments", "HygienistID"): ("hygienist", "rdh", "hyg"),
    ("appointments", "Operatory"): ("op", "chair", "room"),
    ("appointments", "LocationID"): ("office", "clinic", "site", "location"),
    ("appointments", "Note"): ("appointment note", "notes", "comment"),
    ("treatment_plans", "Title"): ("plan name", "name", "description"),
    ("treatment_plans", "ProviderID"): ("dentist", "doctor", "provider"),
    ("treatment_plans", "Note"): ("plan notes", "notes", "comment"),
    ("treatment_plan_items", "Tooth"): ("tooth number", "tooth id", "tooth no"),
    ("treatment_plan_items", "CDTCode"): ("ada code", "procedure code", "code"),
    ("clinical_notes", "ProviderID"): ("author", "written by", "dentist", "provider"),
    ("clinical_notes", "NoteType"): ("type", "note type", "category"),
    ("clinical_notes", "Text"): ("note text", "note", "body", "content"),
    ("clinical_notes", "NoteDateTime"): ("date time", "note date", "written on"),
    ("ledger_entries", "EntryID"): ("transaction", "transaction id", "trans id"),
    ("ledger_entries", "EntryType"): ("transaction type", "trans type", "type"),
    ("ledger_entries", "CDTCode"): ("ada code", "procedure code"),
    ("ledger_entries", "ProviderID"): ("dentist", "doctor", "provider"),
    ("lab_cases", "LabName"): ("lab", "laboratory", "lab name"),
    ("lab_cases", "ProviderID"): ("dentist", "doctor", "provider"),
    ("lab_cases", "Fee"): ("lab fee", "cost"),
    ("referrals", "Direction"): ("in out", "inbound outbound", "direction"),
    ("referrals", "Status"): ("referral status", "state"),
    ("referrals", "SpecialistName"): ("specialist", "referred to", "doctor"),
    ("referrals", "PracticeName"): ("practice", "clinic"),
    ("documents", "MimeType"): ("content type", "mime", "file type"),
    ("documents", "CreatedAt"): ("scanned", "uploaded", "date added"),
}  # fmt: skip
