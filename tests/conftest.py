"""Shared fixtures. Unit tests need no services; integration tests get real PostgreSQL, Redis and
Ray, each test run in a freshly created database (dropped afterwards) and its own Redis prefix."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("CADENCE_ENV", "test")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/unit/" in str(item.path):
            item.add_marker(pytest.mark.usefixtures("_forbid_ray"))


@pytest.fixture
def _forbid_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests must not start Ray (they would be slow and not unit tests)."""
    import ray

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("ray.init() is forbidden in unit tests; use tests/integration")

    monkeypatch.setattr(ray, "init", refuse)
