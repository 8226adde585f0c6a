"""What the export declares about the practice is honoured, never silently overridden.

An MDC export's ``export.json`` states the practice's time zone, currency and tooth numbering.
The project's settings must agree with it, or the workbook must record that the project's value
is meant (``manifest_overrides``, confirmed like every other decision); otherwise every step that
reads the export refuses, naming both values and how to settle it. An export without a manifest
needs the time zone set explicitly in the project (no silent UTC).
"""

from __future__ import annotations

from typing import Any

from flitstack.errors import Refused
from flitstack.settings import Settings

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
    if not getattr(manifest, "present", False):
        if "timezone" not in settings.model_fields_set:
            raise PracticeConflict(
                f"{where or 'the export'} has no export.json saying the practice's time zone, "
                "and the project sets none: set [practice] timezone in flitstack.toml (an IANA "
                "name such as America/Chicago) before anything is read as practice time"
            )
        return
    problems = []
    for key, (field, name) in FACTS.items():
        declared = str(getattr(manifest, key))
        project = _value(settings, field)
        if declared.casefold() == project.casefold():
            continue
        if str(overrides.get(key, "")).casefold() == project.casefold():
            continue
        problems.append(
            f"the export declares {key} {declared!r} but the project has {project!r}: set "
            f"{name} = {declared!r} in flitstack.toml, or record in the workbook that "
            f"{project!r} is meant (manifest_overrides: {{{key}: {project}}}) and confirm it"
        )
    if problems:
        raise PracticeConflict(f"{where or 'export.json'}: " + "; ".join(problems))
