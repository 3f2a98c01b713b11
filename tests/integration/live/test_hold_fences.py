"""A hold's fence is granted in the same Redis round trip as the batch's publish. When Redis
refuses the fence (another incarnation of the shard holds it), the hold is answered 409, leaves
the shard's state, and subscribers are told the slot is back: what they hold still equals the
server's snapshot."""

from __future__ import annotations

from typing import Any

from server.resources import KEYS_KEY, REDIS_KEY
from storage.rfc3339 import format_instant
from tests.integration.live.conftest import Clinic, day_at, z


def _replayed(snapshot: dict[str, Any], deltas: list[dict[str, Any]]) -> set[str]:
    starts = {s["start"] for s in snapshot["slots"]}
    for d in deltas:
        starts -= {r["start"] for r in d["removed"]}
        starts |= {u["start"] for u in d["upserted"]}
    return starts


async def test_a_refused_fence_answers_409_and_gives_the_slot_back(clinic: Clinic) -> None:
    taken, free = day_at(5, 9), day_at(5, 10)
    window = (z(day_at(5, 0)), z(day_at(6, 0)))
    before = await clinic.slots(*window)
    keys = clinic.client.app[KEYS_KEY]
    fence = keys.hold(clinic.calendar_id, clinic.specialist_id, format_instant(taken))
    # As a zombie incarnation would have it: the fence is set, its hold unknown to this shard.
    await clinic.client.app[REDIS_KEY].set(fence, "another-incarnation", px=60_000)
    try:
        status, body = await clinic.hold(taken)
        assert status == 409, body
        assert body["error"]["code"] == "slot_unavailable"
        status, hold = await clinic.hold(free)  # its neighbour is granted as ever
        assert status == 201, hold
    finally:
        await clinic.client.app[REDIS_KEY].delete(fence)

    after = await clinic.slots(*window)
    assert z(taken) in [s["start"] for s in after["slots"]]
    assert z(free) not in [s["start"] for s in after["slots"]]
    assert _replayed(before, await clinic.deltas_since(before["position"])) == {
        s["start"] for s in after["slots"]
    }
    state = await clinic.shard_state()
    assert state["holds"] == [hold["id"]]

    # The fence gone, the slot is held as usual.
    status, again = await clinic.hold(taken)
    assert status == 201, again
