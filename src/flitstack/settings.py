"""Practice-wide defaults every stage reads: time zone, region, currency, tooth notation…

Kept in one pydantic model so the project file (``flitstack.toml``), the export manifest and
command-line flags all fill the same fields. The API token is never a field here: it is read
from the environment or the system keyring at the moment a client is built.
"""

from __future__ import annotations

import re
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BaseModel, Field, field_validator

from flitstack.pipedrive.plans import check_plan, plan_names


class ToothNotation(StrEnum):
    UNIVERSAL = "universal"
    FDI = "fdi"
    PALMER = "palmer"


class DuplicatePolicy(StrEnum):
    """What to do when a record already exists in Pipedrive (same e-mail person, same-name org)."""

    SKIP = "skip"
    UPDATE = "update"
    CREATE = "create"


class Settings(BaseModel):
    """Migration defaults; an export's ``export.json`` overrides the practice facts it states."""

    timezone: str = Field("UTC", description="IANA time zone of the practice")
    region: str = Field("US", description="default phone region (ISO 3166 alpha-2)")
    currency: str = Field("USD", description="ISO 4217 currency of money values")
    source_tooth_notation: ToothNotation = ToothNotation.UNIVERSAL
    target_tooth_notation: ToothNotation = ToothNotation.UNIVERSAL
    fallback_owner_email: str | None = Field(
        None, description="Pipedrive user who owns records of unresolved providers"
    )
    duplicate_policy: DuplicatePolicy = DuplicatePolicy.UPDATE
    protection_profile: str | None = Field(
        None,
        description="us-hipaa, eu-gdpr or other: proposes what health data goes to Pipedrive "
        "(init proposes one by region)",
    )
    visibility_by_location: bool = Field(
        False,
        description="persons and deals visible to their owner's visibility group; the setup "
        "report lists the groups to create per location and their users",
    )
    max_document_mb: float = Field(
        50, gt=0, description="documents larger than this (MB) are reported, never uploaded"
    )
    company_domain: str | None = Field(
        None, description="Pipedrive company domain, e.g. 'acme' for acme.pipedrive.com"
    )
    base_url: str | None = Field(
        None, description="API root override (e.g. a sandbox); derived from company_domain if unset"
    )
    token_env: str = Field("PIPEDRIVE_API_TOKEN", description="environment variable with the token")
    plan: str = Field(
        "advanced",
        description=f"Pipedrive plan, any case: {plan_names()}; sets the burst limit and, with "
        "seats, the daily token budget",
    )
    seats: int = Field(1, ge=1)
    topup_tokens: int = Field(
        0, description="tokens bought as a daily top-up, added to the daily token budget"
    )
    account_timezone: str | None = Field(
        None,
        description="IANA time zone of the Pipedrive account: its daily token budget resets at "
        "midnight there (default: timezone)",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. America/Chicago)") from exc
        return value

    @field_validator("account_timezone")
    @classmethod
    def _known_account_zone(cls, value: str | None) -> str | None:
        return None if value is None else cls._known_zone(value)

    @field_validator("topup_tokens")
    @classmethod
    def _topup(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"top-up tokens cannot be negative, not {value}")
        return value

    @field_validator("plan")
    @classmethod
    def _known_plan(cls, value: str) -> str:
        return check_plan(value)  # UnknownPlan is a ValueError: it names the plans there are

    @field_validator("protection_profile")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        if value is not None and value not in ("us-hipaa", "eu-gdpr", "other"):
            raise ValueError(f"unknown protection profile {value!r}: us-hipaa, eu-gdpr or other")
        return value

    def profile(self) -> str:
        """The protection profile the project chose (``flitstack init`` proposes one by
        region); without one, ``other``: its proposals still wait for a person's decision."""
        return self.protection_profile or "other"

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (ISO 3166 alpha-2, e.g. US)")
        return region

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{3}", value):
            raise ValueError(f"currency {value!r} is not an ISO 4217 code (e.g. USD)")
        return value.upper()

    @field_validator("company_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", value.lower()):
            raise ValueError(
                f"company domain {value!r}: give the subdomain only, 'acme' for acme.pipedrive.com"
            )
        return value.lower() if value else value

    def account_zone(self) -> str:
        """The time zone the daily budget resets in: the account's, else the practice's."""
        return self.account_timezone or self.timezone

    def api_root(self) -> str:
        """The API root without version, e.g. ``https://acme.pipedrive.com/api``."""
        if self.base_url:
            return self.base_url.rstrip("/")
        if self.company_domain:
            return f"https://{self.company_domain}.pipedrive.com/api"
        return "https://api.pipedrive.com/api"
