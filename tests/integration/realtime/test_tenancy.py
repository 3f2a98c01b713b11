"""Channel authorization per kind and role (PROTOCOL.md table), across tenants."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from storage.types import ChannelName, Role
from tests.integration.realtime.conftest import Clinic, Connect, Server, make_clinic

ALL_ROLES = [
    Role.SUPERADMIN,
    Role.ADMIN,
    Role.RECEPTIONIST,
    Role.SPECIALIST,
    Role.OWNER,
    Role.PATIENT,
]


def _channels(clinic: Clinic) -> list[str]:
    return [
        f"org:{clinic.org_id}",
        f"patient:{clinic.patient_id}",
        f"calendar:{clinic.private_calendar}",
    ]


@pytest.mark.parametrize("role", ALL_ROLES, ids=lambda r: r.value)
async def test_every_role_of_another_tenant_is_refused_every_private_channel(
    server: Server, clinic: Clinic, connect: Connect, role: Role
) -> None:
    other = await make_clinic(server.app)
    patient = other.patient_id if role is Role.PATIENT else None
    org = None if role is Role.SUPERADMIN else other.org_id
    peer = await connect(server.url, server.token(role, org, patient_id=patient))
    for name in _channels(clinic):
        reply = await peer.call("subscribe", channel=name)
        assert reply["op"] == "error" and reply["error"]["code"] == "forbidden", (role, name)


async def test_a_patient_token_claiming_a_foreign_patient_id_is_refused(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    other = await make_clinic(server.app)
    # Own organization, but the pid belongs to another tenant's patient.
    token = server.token(Role.PATIENT, clinic.org_id, patient_id=other.patient_id)
    peer = await connect(server.url, token)
    reply = await peer.call("subscribe", channel=f"patient:{other.patient_id}")
    assert reply["error"]["code"] == "forbidden"


async def test_patient_sees_own_channel_not_a_neighbours(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    peer = await connect(
        server.url, server.token(Role.PATIENT, clinic.org_id, patient_id=clinic.patient_id)
    )
    assert (await peer.call("subscribe", channel=f"patient:{clinic.patient_id}"))["op"] == "ok"
    stranger = f"patient:{uuid.uuid4()}"
    assert (await peer.call("subscribe", channel=stranger))["error"]["code"] == "forbidden"
    assert (await peer.call("subscribe", channel=f"org:{clinic.org_id}"))["op"] == "error"


async def test_owner_is_refused_patient_channels_of_own_org(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    peer = await connect(server.url, server.token(Role.OWNER, clinic.org_id))
    reply = await peer.call("subscribe", channel=f"patient:{clinic.patient_id}")
    assert reply["error"]["code"] == "forbidden"


async def test_owner_receives_counters_only_on_org(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    owner = await connect(server.url, server.token(Role.OWNER, clinic.org_id))
    admin = await connect(server.url, server.token(Role.ADMIN, clinic.org_id))
    channel = f"org:{clinic.org_id}"
    for peer in (owner, admin):
        assert (await peer.call("subscribe", channel=channel))["op"] == "ok"
    name = ChannelName(channel)
    await server.events.publish(name, "appointment.booked", {"patient_id": str(clinic.patient_id)})
    await server.events.publish(name, "dashboard.updated", {"booked_today": 3})
    assert [(await admin.recv())["type"] for _ in range(2)] == [
        "appointment.booked",
        "dashboard.updated",
    ]
    only = await owner.recv()
    assert only["type"] == "dashboard.updated"
    with pytest.raises(TimeoutError):
        await owner.recv(within=0.3)
    # The owner's resume from before both events replays the counter only, too.
    position = {"offset": "0-0", "epoch": only["epoch"]}
    await owner.call("unsubscribe", channel=channel)
    reply = await owner.call("subscribe", channel=channel, since=position)
    assert reply["result"]["recovered"] is True
    assert (await owner.recv())["type"] == "dashboard.updated"
    with pytest.raises(TimeoutError):
        await owner.recv(within=0.3)


async def test_public_calendar_events_are_forwarded_byte_for_byte(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    """The gateway adds nothing to an event: anonymous viewers see exactly the stream entry."""
    peer = await connect(server.url)
    channel = ChannelName(f"calendar:{clinic.public_calendar}")
    assert (await peer.call("subscribe", channel=channel))["op"] == "ok"
    data = {"calendar_id": str(clinic.public_calendar), "upserted": [], "removed": []}
    position = await server.events.publish(channel, "slots.changed", data)
    raw = await asyncio.wait_for(peer.ws.recv(), 5)
    assert isinstance(raw, str)  # a text frame
    replay = await server.events.replay(channel, position.__class__("0-0", position.epoch))
    assert raw.encode() == replay.frames[-1][1]
    frame = orjson.loads(raw)
    assert set(frame) == {"op", "channel", "offset", "epoch", "type", "data"}
    assert set(frame["data"]) == {"calendar_id", "upserted", "removed"}
