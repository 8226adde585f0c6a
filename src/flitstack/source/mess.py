"""The kinds of mess real MDC exports carry, shared by the generator (which injects them) and the
audit (which must find them), so the two can be compared count for count."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class MessKind(StrEnum):
    INVALID_EMAIL = "invalid_email"
    JUNK_PHONE = "junk_phone"
    ORPHAN_REFERENCE = "orphan_reference"
    DUPLICATE_PATIENT = "duplicate_patient"
    PROVIDER_WITHOUT_EMAIL = "provider_without_email"
    MISSING_DOCUMENT_FILE = "missing_document_file"
    DELETED_PATIENT_WITH_APPOINTMENTS = "deleted_patient_with_appointments"
    REJECTED_ROW = "rejected_row"
    GUARANTOR_OTHER_FAMILY = "guarantor_other_family"
    # Cosmetic mess: readable, so not counted as problems, but injected to exercise the reader.
    DATE_FORMS = "date_forms"
    NULL_SPELLINGS = "null_spellings"
    ENUM_VARIANTS = "enum_variants"
    MONEY_FORMS = "money_forms"
    TOOTH_FORMS = "tooth_forms"


class MessRates(BaseModel):
    """Share of eligible values that get each kind of mess (0 = clean)."""

    invalid_email: float = Field(0.03, ge=0, le=1)
    missing_email: float = Field(0.12, ge=0, le=1)
    junk_phone: float = Field(0.02, ge=0, le=1)
    orphan_reference: float = Field(0.01, ge=0, le=1)
    duplicate_patient: float = Field(0.01, ge=0, le=1)
    provider_without_email: float = Field(0.25, ge=0, le=1)
    missing_document_file: float = Field(0.05, ge=0, le=1)
    deleted_patient: float = Field(0.01, ge=0, le=1)
    rejected_row: float = Field(0.002, ge=0, le=1)
    guarantor_other_family: float = Field(0.01, ge=0, le=1)
    cosmetic: float = Field(0.2, ge=0, le=1)  # date/null/enum/money/tooth form variants

    @classmethod
    def clean(cls) -> MessRates:
        return cls(
            invalid_email=0,
            missing_email=0,
            junk_phone=0,
            orphan_reference=0,
            duplicate_patient=0,
            provider_without_email=0,
            missing_document_file=0,
            deleted_patient=0,
            rejected_row=0,
            guarantor_other_family=0,
            cosmetic=0,
        )

    def scaled(self, factor: float) -> MessRates:
        data = {k: min(1.0, v * factor) for k, v in self.model_dump().items()}
        return MessRates(**data)
