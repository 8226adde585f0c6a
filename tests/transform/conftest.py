"""Shared contexts for the transform tests: a Chicago practice (DST) in the US."""

from __future__ import annotations

import pytest

from flitstack.settings import Settings
from flitstack.transform import TransformContext


@pytest.fixture
def ctx() -> TransformContext:
    return TransformContext(settings=Settings(timezone="America/Chicago", region="US"))
