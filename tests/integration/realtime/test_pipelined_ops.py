"""Pipelined ops (`realtime.Pipelined`, the pose frames): one connection's frames are submitted
one at a time in arrival order without waiting for each result; replies leave in arrival order
with their ids; at most `Limits.ops_in_flight` results are outstanding; any other op waits until
the replies before it left; errors and timeouts are replied in their turn; a closed connection
cancels what it still waited for; a live stream's late frames are answered `overloaded` in their
turn and never run."""

from __future__ import annotations

import asyncio
from typing import Any

from realtime import ConnectionContext, Limits, OpError, Pipelined
from tests.integration.realtime.conftest import Connect, Peer, Server, ServerFactory


class Stream:
    """A pipelined op whose results the test completes by hand: `submitted` is the order the
    gateway submitted frames in, `results[n]` the future of frame `n`'s result."""

    def __init__(self) -> None:
        self.submitted: list[int] = []
        self.results: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()

    async def submit(self, ctx: ConnectionContext, frame: dict[str, Any]) -> Any:
        n = frame["n"]
        if frame.get("refuse"):
            raise OpError("refused", f"frame {n} refused")
        self.submitted.append(n)
        self.results[n] = asyncio.get_running_loop().create_future()
        self._changed.set()
        return self.results[n]

    def answer(self, n: int) -> None:
        self.results[n].set_result({"n": n})

    async def until_submitted(self, count: int, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while len(self.submitted) < count:
                self._changed.clear()
                await self._changed.wait()


async def _serve(start_server: Any, **limits: Any) -> tuple[Server, Stream]:
    server: Server = await start_server(limits=Limits(close_timeout_s=1.0, **limits))
    stream = Stream()
    server.gateway.ops["test.stream"] = Pipelined(stream.submit)
    return server, stream


async def _replies(peer: Peer, count: int) -> list[dict[str, Any]]:
    return [await peer.recv() for _ in range(count)]


async def test_frames_are_submitted_in_order_without_waiting_and_replies_keep_that_order(
    start_server: ServerFactory, connect: Connect
) -> None:
    server, stream = await _serve(start_server)
    peer = await connect(server.url)
    ids = [await peer.send({"op": "test.stream", "n": n}) for n in range(5)]
    await stream.until_submitted(5)  # every frame submitted while no result is in
    assert stream.submitted == [0, 1, 2, 3, 4]
    for n in reversed(range(5)):  # results complete in the opposite order
        stream.answer(n)
    replies = await _replies(peer, 5)
    assert [(r["op"], r["id"], r["result"]["n"]) for r in replies] == [
        ("ok", fid, n) for fid, n in zip(ids, range(5), strict=True)
    ]


async def test_at_most_ops_in_flight_results_are_outstanding(
    start_server: ServerFactory, connect: Connect
) -> None:
    server, stream = await _serve(start_server, ops_in_flight=2)
    peer = await connect(server.url)
    for n in range(4):
        await peer.send({"op": "test.stream", "n": n})
    await stream.until_submitted(2)
    await asyncio.sleep(0.2)
    assert stream.submitted == [0, 1]  # the third waits for a free place
    stream.answer(0)
    await stream.until_submitted(3)
    assert stream.submitted == [0, 1, 2]
    for n in (1, 2):
        stream.answer(n)
    await stream.until_submitted(4)
    stream.answer(3)
    assert [r["result"]["n"] for r in await _replies(peer, 4)] == [0, 1, 2, 3]


async def test_another_op_runs_after_the_replies_of_the_pipelined_ops_before_it(
    start_server: ServerFactory, connect: Connect
) -> None:
    server, stream = await _serve(start_server)
    seen: list[list[int]] = []

    async def probe(ctx: ConnectionContext, frame: dict[str, Any]) -> dict[str, Any]:
        seen.append([n for n, fut in stream.results.items() if fut.done()])
        return {"submitted": list(stream.submitted)}

    server.gateway.ops["test.probe"] = probe
    peer = await connect(server.url)
    for frame in ({"n": 0}, {"n": 1}):
        await peer.send({"op": "test.stream", **frame})
    await peer.send({"op": "test.probe"})
    await peer.send({"op": "test.stream", "n": 2})
    await stream.until_submitted(2)
    await asyncio.sleep(0.2)
    assert seen == [] and stream.submitted == [0, 1]  # the probe waits, and so does frame 2
    stream.answer(1)
    stream.answer(0)
    await stream.until_submitted(3)
    stream.answer(2)
    replies = await _replies(peer, 4)
    assert [r.get("result") for r in replies] == [
        {"n": 0}, {"n": 1}, {"submitted": [0, 1]}, {"n": 2}
    ]  # fmt: skip
    assert seen == [[0, 1]]


async def test_refusals_failures_and_timeouts_are_replied_in_their_turn(
    start_server: ServerFactory, connect: Connect
) -> None:
    server, stream = await _serve(start_server, op_timeout_s=0.5)
    peer = await connect(server.url)
    await peer.send({"op": "test.stream", "n": 0})
    await peer.send({"op": "test.stream", "n": 1, "refuse": True})  # refused at submission
    await peer.send({"op": "test.stream", "n": 2})  # fails with an error
    await peer.send({"op": "test.stream", "n": 3})  # never answered: times out
    await peer.send({"op": "test.stream", "n": 4})
    await peer.ws.send("not json")
    await stream.until_submitted(4)
    stream.results[2].set_exception(OpError("bad_shape", "frame 2 is malformed"))
    stream.answer(4)
    await asyncio.sleep(0.1)
    stream.answer(0)
    replies = await _replies(peer, 6)
    assert [(r["op"], r.get("error", {}).get("code")) for r in replies] == [
        ("ok", None),
        ("error", "refused"),
        ("error", "bad_shape"),
        ("error", "timeout"),
        ("ok", None),
        ("error", "bad_request"),
    ]
    assert [r["id"] for r in replies[:5]] == [1, 2, 3, 4, 5]


async def test_closing_the_connection_cancels_the_results_it_still_waits_for(
    start_server: ServerFactory, connect: Connect
) -> None:
    server, stream = await _serve(start_server)
    peer = await connect(server.url)
    for n in range(3):
        await peer.send({"op": "test.stream", "n": n})
    await stream.until_submitted(3)
    await peer.close()
    _, waiting = await asyncio.wait(stream.results.values(), timeout=5)
    assert not waiting and all(fut.cancelled() for fut in stream.results.values())
    # The gateway serves the next connection as before.
    again = await connect(server.url)
    await again.send({"op": "test.stream", "n": 10})
    await stream.until_submitted(4)
    stream.answer(10)
    assert (await again.recv())["result"] == {"n": 10}


async def test_a_live_streams_late_frames_are_answered_overloaded_in_order_and_not_run(
    start_server: ServerFactory, connect: Connect
) -> None:
    server, stream = await _serve(start_server, ops_in_flight=1, stale_after_s=0.2)
    server.gateway.ops["test.live"] = Pipelined(stream.submit, live=True)
    peer = await connect(server.url)
    ids = [await peer.send({"op": "test.live", "n": n}) for n in range(5)]
    await stream.until_submitted(1)
    await asyncio.sleep(2.0)  # frames 1-4 wait for frame 0's place far past their 0.2 s
    stream.answer(0)
    replies = await _replies(peer, 5)
    assert [(r["op"], r["id"], r.get("error", {}).get("code")) for r in replies] == [
        ("ok", ids[0], None),
        *(("error", fid, "overloaded") for fid in ids[1:]),
    ]
    assert replies[1]["error"]["details"] == {"stale_after_ms": 200}
    assert stream.submitted == [0]  # the late frames never ran
    # The connection stays open and the stream goes on with fresh frames.
    fresh = await peer.send({"op": "test.live", "n": 5})
    await stream.until_submitted(2)
    stream.answer(5)
    assert await peer.recv() == {"op": "ok", "id": fresh, "result": {"n": 5}}


async def test_a_stream_not_live_waits_for_its_place_however_long(
    start_server: ServerFactory, connect: Connect
) -> None:
    server, stream = await _serve(start_server, ops_in_flight=1, stale_after_s=0.2)
    peer = await connect(server.url)
    for n in range(3):
        await peer.send({"op": "test.stream", "n": n})
    await stream.until_submitted(1)
    await asyncio.sleep(1.0)
    for n in range(3):
        stream.answer(n)
        await stream.until_submitted(min(n + 2, 3))
    assert [r["result"]["n"] for r in await _replies(peer, 3)] == [0, 1, 2]
