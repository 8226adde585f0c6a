"""The practice's own patient properties: merged into person custom fields."""

from __future__ import annotations

from flitstack.engine.objects import register
from flitstack.engine.objects.base import MergedKind


@register
class CustomProperties(MergedKind):
    name = "patient_custom_properties"
    source = "patient_custom_properties"
