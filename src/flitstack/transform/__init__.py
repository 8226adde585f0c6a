"""Value transforms: pure functions from export text to Pipedrive-ready values."""

from flitstack.transform.functions import PIPEDRIVE_LIMITS, TRANSFORMS, apply, to_utc
from flitstack.transform.outcome import Outcome, TransformContext
from flitstack.transform.teeth import convert_tooth

__all__ = [
    "PIPEDRIVE_LIMITS",
    "TRANSFORMS",
    "Outcome",
    "TransformContext",
    "apply",
    "convert_tooth",
    "to_utc",
]
