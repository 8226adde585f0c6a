"""What the export declares about the practice is honoured, never silently overridden.

An MDC export's ``export.json`` states the practice's time zone, currency and tooth numbering.
The project's settings must agree with it, or the workbook must record that the project's value
is meant (``manifest_overrides``, confirmed like every other decision); otherwise every step that
reads the export refuses, naming both values and how to settle it. An export without a manifest
needs the time zone set explicitly in the project (no silent UTC).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flitstack.errors import Refused
from flitstack.settings import Settings, ToothNotation

#: manifest key → (settings field, what the project file calls it)
FACTS = {
    "timezone": ("timezone", "[practice] timezone"),
    "currency": ("currency", "[practice] currency"),
    "tooth_numbering": ("source_tooth_notation", "[practice] source_tooth_notation"),
}


class PracticeConflict(Refused):
    """The project's settings disagree with what the export declares."""


def _value(settings: Settings, field: str) -> str:
    value = getattr(settings, field)
    return str(getattr(value, "value", value))


def check_practice_facts(
    manifest: Any, settings: Settings, overrides: dict[str, str] | None = None, where: str = ""
) -> None:
    """Raise :class:`PracticeConflict` for each fact the export declares differently, unless the
    workbook's ``manifest_overrides`` says the project's value is meant."""
    overrides = overrides or {}
    declared = declared_facts(manifest)
    if "timezone" not in declared and "timezone" not in settings.model_fields_set:
        raise PracticeConflict(
            f"{where or 'the export'} has no export.json saying the practice's time zone, "
            "and the project sets none: set [practice] timezone in flitstack.toml (an IANA "
            "name such as America/Chicago) before anything is read as practice time"
        )
    problems = []
    for key, (field, name) in FACTS.items():
        if field not in declared:
            continue
        declared_value = declared[field]
        project = _value(settings, field)
        if declared_value.casefold() == project.casefold():
            continue
        if str(overrides.get(key, "")).casefold() == project.casefold():
            continue
        problems.append(
            f"the export declares {key} {declared_value!r} but the project has {project!r}: set "
            f"{name} = {declared_value!r} in flitstack.toml, or record in the workbook that "
            f"{project!r} is meant (manifest_overrides: {{{key}: {project}}}) and confirm it"
        )
    if problems:
        raise PracticeConflict(f"{where or 'export.json'}: " + "; ".join(problems))


def declared_facts(manifest: Any) -> dict[str, str]:
    """The practice facts an export's manifest declares, as settings values ({} without one)."""
    if not getattr(manifest, "present", False):
        return {}
    stated = manifest.model_fields_set
    return {
        field: str(getattr(manifest, key))
        for key, (field, _name) in FACTS.items()
        if key in stated and getattr(manifest, key)
    }


def practice_settings(
    manifest: Any,
    settings: Settings,
    overrides: dict[str, str] | None = None,
    where: str = "",
    *,
    require_timezone: bool = True,
) -> Settings:
    """The settings a run uses for this export: a fact the project does not set is taken from the
    export's manifest; a fact it sets differently is refused (:func:`check_practice_facts`).

    ``require_timezone=False`` lets steps that write nothing (audit, proposal) read an export
    without a manifest in a project that sets no time zone yet.
    """
    declared = declared_facts(manifest)
    if declared:
        filled = settings.model_copy(update=_unset_from(declared, settings, where))
        check_practice_facts(manifest, filled, overrides, where)
        return filled
    if require_timezone:
        check_practice_facts(manifest, settings, overrides, where)
    return settings


def _unset_from(declared: dict[str, str], settings: Settings, where: str) -> dict[str, Any]:
    """The manifest's value for each fact the project leaves unset, checked like a setting."""
    update: dict[str, Any] = {}
    for field, value in declared.items():
        if field in settings.model_fields_set:
            continue
        if field == "timezone":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise PracticeConflict(
                    f"{where or 'export.json'}: timezone {value!r} is not an IANA time zone; set "
                    "[practice] timezone in flitstack.toml"
                ) from exc
            update[field] = value
        elif field == "source_tooth_notation":
            try:
                update[field] = ToothNotation(value.casefold())
            except ValueError as exc:
                raise PracticeConflict(
                    f"{where or 'export.json'}: tooth_numbering {value!r} is not one of "
                    f"{', '.join(t.value for t in ToothNotation)}"
                ) from exc
        elif field == "currency":
            update[field] = value.upper()
        else:
            update[field] = value
    return update


def manifest_defaults(export: Path) -> dict[str, str]:
    """What ``flitstack init`` offers as the practice's facts: the export's own declarations."""
    from flitstack.source.reader import open_export

    with open_export(export) as source:
        return declared_facts(source.manifest)
