"""The source object kinds, one small module each; ``KINDS`` is the registry the engine, the
sample pick, the estimate and verify read. A new kind is a new module listed in ``_MODULES``."""

from __future__ import annotations

import importlib

from flitstack.engine.objects.base import MergedKind, SourceKind

_MODULES = (
    "locations", "carriers", "side_orgs", "patients", "patient_insurance", "recalls", "ledger",
    "custom_properties", "appointments", "treatment_plans", "plan_items", "lab_cases",
    "referrals", "clinical_notes", "deal_notes", "documents", "reference_files",
)  # fmt: skip

KINDS: list[SourceKind] = []


def register(cls: type[SourceKind]) -> type[SourceKind]:
    """Class decorator: add one instance of the kind to the registry."""
    if any(k.name == cls.name for k in KINDS):
        raise ValueError(f"two object kinds are named {cls.name!r}")
    KINDS.append(cls())
    return cls


for _module in _MODULES:
    importlib.import_module(f"flitstack.engine.objects.{_module}")

__all__ = ["KINDS", "MergedKind", "SourceKind", "register"]
