"""Test support: pytest plugins and helpers shared by the apps' tests."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(message: str) -> NoReturn:
    """A service or program a test needs is missing: a skip on a developer's
    machine, a failure under CI (``CI=true``), where everything must run."""
    if under_ci():
        pytest.fail(message)
    pytest.skip(message)
