"""What the identity storage functions raise: the kinds of storage/errors.py under the identity
domain's names. The edges map them (REST: 409 and 422)."""

from __future__ import annotations

from storage import errors


class IdentityError(errors.DomainError):
    """Base of the identity domain's expected failures."""


class SlugTaken(IdentityError, errors.Conflict):
    """Another organization has this slug (the unique index said so)."""

    def __init__(self) -> None:
        super().__init__("an organization with this slug already exists")


class AlreadyMember(IdentityError, errors.Conflict):
    """The account already has a membership in this organization."""

    def __init__(self) -> None:
        super().__init__("this person is already a member of the organization")


class LinkRefused(IdentityError, errors.Invalid):
    """The composite foreign keys (organization_id, patient_id / specialist_id) refused a link:
    the patient or specialist is not the organization's own (or went away meanwhile)."""

    def __init__(self) -> None:
        super().__init__({"$": "a linked patient or specialist is not in this organization"})
