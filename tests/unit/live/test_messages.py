"""What crosses Ray between the facade and the calendar shards survives pickling unchanged."""

from __future__ import annotations

import dataclasses
import pickle
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import ray.cloudpickle as cloudpickle

from actors._pool.compact import compact
from actors.calendar import messages as m
from actors.calendar._state import Hold, HoldStatus
from pipelines.availability import Slot
from storage.audit import AuditActor
from storage.events import StreamPosition

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ID = uuid.UUID(int=7)
CALLER = m.Caller("patient:x", uuid.UUID(int=1), "patient", uuid.UUID(int=2))
HOLD = Hold(ID, ID, ID, ID, NOW, NOW + timedelta(hours=1), NOW, "user:1", HoldStatus.BOOKED, True)
SAMPLES = [
    HOLD,
    CALLER,
    m.GuestContact("n", "e@x.org", "+40 1"),
    m.SlotsQuery(ID, CALLER, date(2026, 3, 2), NOW),
    m.HoldRequest(ID, CALLER, NOW, None, "k"),
    m.ReleaseRequest(ID, CALLER, ID),
    m.BookRequest(ID, CALLER, ID, AuditActor(ID, "admin", "r"), ID, None),
    m.EditSpecialist(ID, CALLER, AuditActor(ID, "admin", "r"), ID, {"active": False}, (ID,)),
    m.EditService(ID, CALLER, AuditActor(ID, "admin", "r"), ID, {"duration_min": 30}),
    m.RescheduleAppointment(ID, CALLER, AuditActor(ID, "admin", "r"), ID, m.Span(ID, NOW, NOW)),
    m.BookSeries(ID, CALLER, AuditActor(ID, "admin", "r"), ID, (m.Span(ID, NOW, NOW),), 7),
    m.ChangeStatus(ID, CALLER, AuditActor(ID, "admin", "r"), ID, "cancel", None, "other", "n"),
    m.Failure(409, "slot_unavailable", "taken", {"conflicts": [{"reason": "held"}]}),
    m.SlotsView(ID, "UTC", StreamPosition("1-1", "e"), [Slot(NOW, NOW, (ID,))]),
    m.HoldGranted(HOLD, ID),
    m.Written((), (), ID),
    m.Released(ID),
    m.RulesEdited({"id": ID}, None),
]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_every_message_round_trips_through_rays_pickler(value: object) -> None:
    assert pickle.loads(cloudpickle.dumps(value)) == value
    assert type(pickle.loads(pickle.dumps(value))) is type(value)


def test_every_message_class_pickles_compactly() -> None:
    classes = {type(v) for v in SAMPLES} - {Slot}
    assert all("__reduce__" in vars(c) for c in classes), "a message class lost @compact"


def test_compact_refuses_a_field_outside_init() -> None:
    @dataclasses.dataclass(frozen=True)
    class Derived:
        a: int
        b: int = dataclasses.field(init=False, default=0)

    with pytest.raises(TypeError):
        compact(Derived)
