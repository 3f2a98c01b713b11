"""Who reads which note, once the caller may see the patient clinically at all
(storage.care_team's `clinical_view` is FULL: an admin of the clinic, or a specialist treating
the patient). Receptionists, patients and owners never reach a note (the REST edge refuses their
roles); a caller who may not see the patient gets 404 before this is asked.

- The author reads every note of theirs.
- An admin reads every note of the organization, private ones included (issue 18: "admins see
  all"; ClinicFlow's seed keeps doctor notes from admins, Cadence's clinics are run by admins who
  answer for the record, and every admin read stays behind the patient-level check).
- Another specialist reads a note shared with the care team, never a private one.

`Reader.sees` and `Reader.condition` say the same thing, for one row in Python and for a list in
SQL; tests hold both to the matrix.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from piccolo.querystring import QueryString

from storage.types import Principal, Role


class Visibility(StrEnum):
    PRIVATE = "private"  # its author (and the organization's admins) only
    CARE_TEAM = "care_team"  # every clinician who may see the patient clinically


@dataclass(frozen=True, slots=True)
class Reader:
    user_id: uuid.UUID | None
    role: Role

    @classmethod
    def of(cls, who: Principal) -> Reader:
        return cls(who.user_id, who.role)

    def wrote(self, note: Mapping[str, Any]) -> bool:
        return self.user_id is not None and note["author_user_id"] == self.user_id

    def sees(self, note: Mapping[str, Any]) -> bool:
        if self.role is Role.ADMIN or self.wrote(note):
            return True
        return self.role is Role.SPECIALIST and note["visibility"] == Visibility.CARE_TEAM

    def condition(self, alias: str = "n") -> QueryString:
        """SQL over the notes table aliased `alias`: the rows `sees` accepts."""
        return QueryString(
            f"({{}} OR {alias}.author_user_id = {{}}"
            f" OR ({{}} AND {alias}.visibility = 'care_team'))",
            self.role is Role.ADMIN,
            self.user_id,
            self.role is Role.SPECIALIST,
        )
