"""Traceability (docs/requirements.md): every requirement is verified by a test that names it,
and every requirement a test names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
REQUIREMENTS = ROOT / "docs" / "requirements.md"
_LISTED = re.compile(r"^\|\s*(REQ-(?:EX|TP)-\d{3})\s*\|", re.MULTILINE)
# A test verifies a requirement by saying so in its docstring or a comment next to it.
_VERIFIES = re.compile(r"Verifies ((?:REQ-(?:EX|TP)-\d{3}(?:,\s*)?)+)")
_ID = re.compile(r"REQ-(?:EX|TP)-\d{3}")


def listed() -> list[str]:
    return _LISTED.findall(REQUIREMENTS.read_text(encoding="utf-8"))


def verified() -> dict[str, set[str]]:
    """Requirement id -> the test files that verify it."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        if path.resolve() == Path(__file__).resolve():
            continue
        for match in _VERIFIES.finditer(path.read_text(encoding="utf-8")):
            for req in _ID.findall(match.group(1)):
                found.setdefault(req, set()).add(str(path.relative_to(ROOT)))
    return found


def test_requirements_are_listed_once_each() -> None:
    ids = listed()
    assert ids, "docs/requirements.md lists no requirement"
    assert len(ids) == len(set(ids)), "a requirement id is listed twice"
    for prefix in ("REQ-EX-", "REQ-TP-"):
        numbers = sorted(int(i[-3:]) for i in ids if i.startswith(prefix))
        assert numbers == list(range(1, len(numbers) + 1)), f"{prefix} ids have gaps"


def test_every_requirement_has_a_test() -> None:
    missing = sorted(set(listed()) - set(verified()))
    assert not missing, f"requirements without a test that verifies them: {missing}"


def test_every_requirement_a_test_names_is_listed() -> None:
    unknown = sorted(set(verified()) - set(listed()))
    assert not unknown, f"tests verify requirements docs/requirements.md does not list: {unknown}"
