"""The plan version and assignment state machines."""

from __future__ import annotations

import pytest

from storage.telerehab import (
    AssignmentAction,
    AssignmentStatus,
    InvalidTransition,
    VersionAction,
    VersionStatus,
    next_assignment_status,
    next_version_status,
)


def test_a_version_goes_draft_published_archived_and_nowhere_else() -> None:
    """Verifies REQ-TP-012: the only edges are draft -publish-> published -archive-> archived."""
    assert (
        next_version_status(VersionStatus.DRAFT, VersionAction.PUBLISH) is VersionStatus.PUBLISHED
    )
    assert (
        next_version_status(VersionStatus.PUBLISHED, VersionAction.ARCHIVE)
        is VersionStatus.ARCHIVED
    )
    legal = {(VersionStatus.DRAFT, VersionAction.PUBLISH),
             (VersionStatus.PUBLISHED, VersionAction.ARCHIVE)}  # fmt: skip
    for status in VersionStatus:
        for action in VersionAction:
            if (status, action) in legal:
                continue
            with pytest.raises(InvalidTransition) as caught:
                next_version_status(status, action)
            assert caught.value.current == status.value


def test_only_drafts_are_editable() -> None:
    """Verifies REQ-TP-003: published and archived versions are frozen snapshots."""
    assert not VersionStatus.DRAFT.frozen
    assert VersionStatus.PUBLISHED.frozen and VersionStatus.ARCHIVED.frozen


def test_an_ended_assignment_cannot_end_again() -> None:
    """Verifies REQ-TP-012: assignments go active -> ended once."""
    assert next_assignment_status(AssignmentStatus.ACTIVE, AssignmentAction.END) is (
        AssignmentStatus.ENDED
    )
    with pytest.raises(InvalidTransition) as caught:
        next_assignment_status(AssignmentStatus.ENDED, AssignmentAction.END)
    assert caught.value.allowed == []
