"""Patient data protection: per category of health data, the practice decides what goes to
Pipedrive, and withheld means never sent.

A dental export is health data. Under the US HIPAA rules a cloud service that stores ePHI is a
business associate (HHS guidance on cloud computing), so sending clinical detail needs a
business associate agreement (BAA); Pipedrive publishes a GDPR data-processing agreement, SOC 2
and ISO 27001, but no HIPAA BAA could be found. Under the GDPR, health data is a special
category (Art. 9) that needs its own lawful basis. flitstack cannot decide this for a practice:
a *profile* (``us-hipaa``, ``eu-gdpr``, ``other``) proposes a decision per category, the
workbook records each decision with its reason (and, for ``send`` under ``us-hipaa``, the BAA
reference), and ``map confirm`` refuses while any category has no decision.

The categories are declared here once: which columns (by file and role) and which object kinds
belong to each. The engine reads nothing else: a withheld column is not mapped, a withheld
kind's rows are skipped with the reason, and verify proves by reading the account back that no
value of a withheld category is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from flitstack.source.schema import role

SEND, WITHHOLD = "send", "withhold"
PROFILES = ("us-hipaa", "eu-gdpr", "other")


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    #: (file, role) pairs whose values belong to the category, as schema.role names them
    columns: tuple[tuple[str, str], ...] = ()
    #: object kinds (engine/objects) whose records belong to it whole
    kinds: tuple[str, ...] = ()


CATEGORIES: tuple[Category, ...] = (
    Category(
        "clinical_notes", "Clinical notes",
        columns=(("appointments", "note"), ("treatment_plans", "note"), ("recalls", "note"),
                 ("lab_cases", "instructions"), ("referrals", "reason")),
        kinds=("clinical_notes",),
    ),
    Category(
        "clinical_detail", "Diagnoses, procedures and tooth detail",
        columns=(("appointments", "procedure_codes"), ("treatment_plans", "title"),
                 ("treatment_plan_items", "cdtcode"),
                 ("treatment_plan_items", "description"), ("treatment_plan_items", "tooth"),
                 ("treatment_plan_items", "surfaces"), ("lab_cases", "case_type"),
                 ("referrals", "specialty")),
    ),
    Category(
        "financial", "Financial detail (ledger, balances, payments)",
        columns=tuple(("ledger_entries", c) for c in (
            "entry_date", "entry_type", "amount", "cdtcode", "tooth", "description", "claim_id",
        )),
        kinds=("ledger_entries",),
    ),
    Category("documents", "Documents (x-rays, consent forms, photos)", kinds=("documents",)),
    Category(
        "insurance_ids", "Insurance identifiers (subscriber and member IDs)",
        columns=(("patient_insurance", "subscriber_id"), ("patient_insurance", "group_number")),
    ),
    Category(
        "contact", "Contact details and demographics",
        columns=tuple(("patients", c) for c in (
            "date_of_birth", "gender", "email", "home_phone", "mobile_phone", "work_phone",
            "address1", "address2", "city", "state", "zip", "country",
        )),
    ),
)  # fmt: skip
BY_NAME = {c.name: c for c in CATEGORIES}

#: what each profile proposes (a person decides; ``map confirm`` records it)
_US_HIPAA = {
    "clinical_notes": WITHHOLD, "clinical_detail": WITHHOLD, "documents": WITHHOLD,
    "insurance_ids": WITHHOLD, "financial": WITHHOLD, "contact": SEND,
}  # fmt: skip
PROPOSALS: dict[str, dict[str, str]] = {
    "us-hipaa": _US_HIPAA,
    # GDPR: health data (Art. 9) needs its own basis; contact data for the practice's own
    # relationship with the patient is ordinary personal data
    "eu-gdpr": dict(_US_HIPAA, financial=SEND, insurance_ids=WITHHOLD),
    "other": dict.fromkeys(BY_NAME, SEND),
}
WHY = {
    "us-hipaa": "us-hipaa profile: health information goes to a cloud service only under a "
    "business associate agreement (45 CFR 164.502(e)); none is recorded",
    "eu-gdpr": "eu-gdpr profile: health data is a special category (GDPR Art. 9) that needs "
    "its own lawful basis in the CRM",
    "other": "profile other: no health-data rule chosen; everything is proposed for sending",
}


class Decision(BaseModel):
    """One category's decision: ``send`` or ``withhold``, why, and (``send`` under us-hipaa)
    the business associate agreement the practice relies on."""

    proposed: str
    decision: str | None = None  # None: nobody decided yet (map confirm refuses)
    reason: str = ""
    baa_reference: str = ""


class Protection(BaseModel):
    profile: str = "other"
    decisions: dict[str, Decision] = Field(default_factory=dict)
    #: set when a person confirmed the profile's proposals as they are (recorded as such)
    accepted_as_proposed_by: str = ""

    def undecided(self) -> list[str]:
        none = Decision(proposed="")
        return [c.name for c in CATEGORIES if self.decisions.get(c.name, none).decision is None]

    def withheld(self) -> dict[str, str]:
        """Withheld category → the reason shown on every row or value it keeps back."""
        out = {}
        for c in CATEGORIES:
            d = self.decisions.get(c.name)
            if d is not None and d.decision == WITHHOLD:
                out[c.name] = f"withheld by the practice's decision ({c.label}): {d.reason}"
        return out

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"category": c.name, "label": c.label,
             **(self.decisions.get(c.name) or Decision(proposed="")).model_dump()}
            for c in CATEGORIES
        ]  # fmt: skip


def propose_protection(profile: str) -> Protection:
    """The profile's proposals, undecided: a person decides each (or accepts them all)."""
    if profile not in PROFILES:
        raise ValueError(
            f"unknown protection profile {profile!r}: use one of {', '.join(PROFILES)}"
        )
    return Protection(
        profile=profile,
        decisions={
            name: Decision(proposed=what, reason=WHY[profile])
            for name, what in PROPOSALS[profile].items()
        },
    )


def check_decisions(protection: Protection) -> list[str]:
    """What keeps the decisions from being confirmed, one line each ([] when none)."""
    problems = []
    undecided = protection.undecided()
    if undecided:
        problems.append(
            f"no decision for {', '.join(undecided)}: set each `decision: send` or "
            "`decision: withhold` (with a reason) under protection in the workbook, or run "
            "`flitstack map confirm --protection-as-proposed`"
        )
    for name, d in protection.decisions.items():
        if name not in BY_NAME:
            problems.append(f"protection: unknown category {name!r} ({', '.join(BY_NAME)})")
        elif d.decision not in (None, SEND, WITHHOLD):
            problems.append(f"protection.{name}: decision {d.decision!r} is not send or withhold")
        elif (
            protection.profile == "us-hipaa" and d.decision == SEND and name != "contact"
            and not d.baa_reference.strip()
        ):  # fmt: skip
            problems.append(
                f"protection.{name}: sending it under us-hipaa needs the business associate "
                "agreement the practice relies on (baa_reference)"
            )
    return problems


def accept_as_proposed(protection: Protection, by: str) -> Protection:
    """Every undecided category takes its proposal; recorded as accepted by ``by``."""
    decisions = {
        name: d if d.decision is not None else d.model_copy(update={"decision": d.proposed})
        for name, d in protection.decisions.items()
    }
    return protection.model_copy(update={"decisions": decisions, "accepted_as_proposed_by": by})


def withheld_columns(protection: Protection | None) -> dict[tuple[str, str], str]:
    """(file, MDC column) → why it is withheld."""
    if protection is None:
        return {}
    out = {}
    for name, why in protection.withheld().items():
        for file, snake_name in BY_NAME[name].columns:
            out[(file, role(file, snake_name))] = why
    return out


def withheld_kinds(protection: Protection | None) -> dict[str, str]:
    """Object kind → why its rows are withheld."""
    if protection is None:
        return {}
    return {kind: why for name, why in protection.withheld().items()
            for kind in BY_NAME[name].kinds}  # fmt: skip


def default_profile(region: str) -> str:
    """The profile a practice in ``region`` most likely needs (a proposal, decided at init)."""
    eu = {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
          "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS",
          "LI", "NO", "GB"}  # fmt: skip
    return "us-hipaa" if region.upper() == "US" else "eu-gdpr" if region.upper() in eu else "other"


def apply_protection(wb: Any) -> Any:
    """The workbook the engine runs: every column of a withheld category not migrated, with
    the decision as its reason (the file on disk, and its digest, are untouched)."""
    withheld = withheld_columns(wb.protection)
    if not withheld:
        return wb
    columns = []
    for c in wb.columns:
        why = withheld.get((c.file, c.role or c.column))
        if why is not None and c.migrate:
            c = c.model_copy(update={"migrate": False, "reason": why})
        columns.append(c)
    return wb.model_copy(update={"columns": columns})
