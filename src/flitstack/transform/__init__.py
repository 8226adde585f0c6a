"""Value transforms: pure functions from export text to Pipedrive-ready values (no I/O).

``apply(name, raw, ctx)`` runs one by its workbook name and never raises; see ``registry``.
"""

from flitstack.transform.dates import to_utc
from flitstack.transform.notes import note_to_html, sanitise_html
from flitstack.transform.outcome import Outcome, Transform, TransformContext
from flitstack.transform.registry import PIPEDRIVE_LIMITS, TRANSFORMS, apply
from flitstack.transform.teeth import ToothError, convert_tooth

__all__ = [
    "PIPEDRIVE_LIMITS",
    "TRANSFORMS",
    "Outcome",
    "ToothError",
    "Transform",
    "TransformContext",
    "apply",
    "convert_tooth",
    "note_to_html",
    "sanitise_html",
    "to_utc",
]
