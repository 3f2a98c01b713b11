"""The state machines of plan versions and assignments: statuses, actions, one transition table.

    plan version:  draft --publish--> published --archive--> archived
    assignment:    active --end--> ended

A published version is a frozen snapshot (the database trigger refuses any other change); a new
publish archives the previous published version, which assignments keep using unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from storage.telerehab._errors import InvalidTransition


class VersionStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"

    @property
    def frozen(self) -> bool:
        """Whether the version is a snapshot that may be assigned and never edited."""
        return self is not VersionStatus.DRAFT


class VersionAction(StrEnum):
    PUBLISH = "publish"
    ARCHIVE = "archive"


class AssignmentStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class AssignmentAction(StrEnum):
    END = "end"


VERSION_TRANSITIONS: Mapping[tuple[VersionStatus, VersionAction], VersionStatus] = {
    (VersionStatus.DRAFT, VersionAction.PUBLISH): VersionStatus.PUBLISHED,
    (VersionStatus.PUBLISHED, VersionAction.ARCHIVE): VersionStatus.ARCHIVED,
}

ASSIGNMENT_TRANSITIONS: Mapping[tuple[AssignmentStatus, AssignmentAction], AssignmentStatus] = {
    (AssignmentStatus.ACTIVE, AssignmentAction.END): AssignmentStatus.ENDED,
}


def next_version_status(current: VersionStatus, action: VersionAction) -> VersionStatus:
    """The status after `action`; raises InvalidTransition when the table has no such edge."""
    try:
        return VERSION_TRANSITIONS[(current, action)]
    except KeyError:
        allowed = [a.value for (s, a) in VERSION_TRANSITIONS if s is current]
        raise InvalidTransition("plan version", current.value, action.value, allowed) from None


def next_assignment_status(current: AssignmentStatus, action: AssignmentAction) -> AssignmentStatus:
    try:
        return ASSIGNMENT_TRANSITIONS[(current, action)]
    except KeyError:
        allowed = [a.value for (s, a) in ASSIGNMENT_TRANSITIONS if s is current]
        raise InvalidTransition("plan assignment", current.value, action.value, allowed) from None
