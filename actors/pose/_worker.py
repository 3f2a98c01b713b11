"""PoseWorker actors: a fixed pool; each runs the guided sessions whose id hashes to it.

Per batch of requests (the pool micro-batches them), every request is served synchronously on
the actor's loop (guide + tracker are pure and take well under a millisecond a frame), then ONE
flush writes the snapshots of the sessions that changed durably (a rep counted, a set or a
phase ended) and publishes every event of the batch on `patient:{id}`, in order, in one Redis
round trip. Snapshots are written before the events that announce them, so a rep a client has
seen is never counted again after a restart. Then the latest skeleton of each session fed since
(at most 10 a second a session, actors/pose/_skeleton.py) goes to the session's watchers as an
ephemeral `pose.skeleton`: published, never stored, not retried.

Timers (rest ending, a paused session outliving its grace, a device going away) run in the
worker's own housekeeping loop. Camera frames go through a bounded queue to MediaPipe on one
inference thread (actors/pose/_frames.py) and then the same guide.

After kill -9 Ray restarts the actor; it reloads the running sessions it owns from Redis and
continues each from its last persisted rep, announcing the gap with `tracking.lost` (and
`tracking.ok` once frames flow again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ray
from numpy.typing import NDArray
from redis.exceptions import RedisError

from actors._pool._base import LazyPool, RebuildingActor
from actors._pool.sharding import shard_of
from actors.pose import messages as m
from actors.pose._frames import FrameQueue, Inference
from actors.pose._records import store_completion, store_telemetry, telemetry_events
from actors.pose._skeleton import EVENT as SKELETON
from actors.pose._skeleton import due, skeleton
from actors.pose._store import SessionStore
from pipelines.frames import FrameError, absent
from pipelines.pose import ExerciseTracker, Frames, Measured, PoseInputError, measure_together
from pipelines.session import (
    DURABLE,
    Action,
    GuideConfig,
    GuideError,
    GuideEvent,
    LiveSession,
    PauseReason,
    PlanError,
    SessionPlan,
    SessionState,
)
from storage.db import AppDatabase
from storage.events import EventLog
from storage.keys import KeySpace
from storage.redis import create_redis
from storage.telerehab import TelerehabError
from storage.types import Channel, ChannelName, PatientSubject

log = logging.getLogger("cadence.pose")
MAX_OUTBOX = 50_000
RECORD_TIMEOUT_S = 15.0
RECORD_RETRY_S = 5.0


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    retention_s: int = 600
    maxlen: int = 100_000
    grace_s: float = 120.0  # a session paused by a disconnect is abandoned after this
    max_pause_s: float = 1800.0  # ... paused by the patient
    idle_s: float = 3600.0  # an active set with no input at all is abandoned after this
    drop_after_s: float = 1.5  # the patient's device absent this long: paused
    tick_s: float = 0.2
    presence_every_s: float = 1.0
    frame_queue: int = 8  # camera frames waiting for inference, per worker
    estimators: int = 4  # MediaPipe graphs kept (one per frame-path session)
    telemetry_every_s: float = 1.0
    telemetry_buffer: int = 20_000
    evict_after_s: float = 120.0  # an ended, recorded session leaves memory (Redis keeps it)


def _now_ms() -> float:
    return time.time() * 1000.0


@dataclass
class _Running:
    meta: m.SessionMeta
    plan: SessionPlan
    live: LiveSession
    armed: bool = False  # the patient's device was seen connected
    absent_since_ms: float | None = None
    last_input_ms: float = 0.0
    completion_id: str | None = None
    record_error: str | None = None
    recording: bool = False
    retry_at: float = 0.0
    frames: dict[str, int] = field(default_factory=lambda: {"received": 0, "pose_found": 0})
    skeleton_ms: float = 0.0  # when the last live skeleton went out (never stored)

    @property
    def channel(self) -> ChannelName:
        return Channel.patient(self.meta.patient_id).name

    @property
    def running(self) -> bool:
        """Still needs its worker: not ended, or ended and not yet recorded."""
        ended = self.live.state.ended
        return not ended or (self.completion_id is None and self.record_error is None)

    def document(self) -> dict[str, Any]:
        return {
            "meta": self.meta.to_dict(),
            "plan": self.plan.to_dict(),
            "live": self.live.snapshot(),
            "armed": self.armed,
            "completion_id": self.completion_id,
            "record_error": self.record_error,
            "frames": self.frames,
        }

    @classmethod
    def revive(cls, doc: dict[str, Any], config: GuideConfig) -> _Running:
        plan = SessionPlan.from_dict(doc["plan"])
        return cls(
            meta=m.SessionMeta.from_dict(doc["meta"]),
            plan=plan,
            live=LiveSession.restore(plan, doc["live"], config),
            armed=bool(doc.get("armed")),
            completion_id=doc.get("completion_id"),
            record_error=doc.get("record_error"),
            last_input_ms=_now_ms(),
            frames=dict(doc.get("frames") or {"received": 0, "pose_found": 0}),
        )

    def view(self) -> dict[str, Any]:
        guide = self.live.guide
        meta = self.meta
        out: dict[str, Any] = {
            "id": str(meta.session_id),
            "patient_id": str(meta.patient_id),
            "organization_id": str(meta.org_id),
            "assignment_id": str(meta.assignment_id),
            "session_index": meta.session_index,
            "status": guide.state.value,
            "current": guide.status(),
            "exercises": [e.brief() for e in self.plan.exercises],
            "summary": guide.summary(),
            "started_ms": guide.started_ms,
            "ended_ms": guide.ended_ms,
            "completion_id": self.completion_id,
            "frames": dict(self.frames),
        }
        if guide.state.ended:
            out["outcome"] = guide.outcome
        return out


@ray.remote
class PoseWorker(RebuildingActor):
    def __init__(
        self,
        index: int,
        size: int,
        db: AppDatabase,
        redis_url: str,
        prefix: str,
        opts: WorkerOptions,
    ) -> None:
        super().__init__(index, size)
        self._db = LazyPool(db, max_size=4)
        self._opts = opts
        self._config = GuideConfig(
            grace_ms=opts.grace_s * 1000, max_pause_ms=opts.max_pause_s * 1000
        )
        self._redis = create_redis(redis_url)
        keys = KeySpace(prefix)
        self._events = EventLog(self._redis, keys, retention_s=opts.retention_s, maxlen=opts.maxlen)
        self._store = SessionStore(self._redis, keys)
        self._sessions: dict[uuid.UUID, _Running] = {}
        self._outbox: list[tuple[ChannelName, str, dict[str, Any]]] = []
        # The latest skeleton of each session since the last flush (ephemeral: _skeleton.py).
        self._skeletons: dict[uuid.UUID, tuple[ChannelName, str, dict[str, Any]]] = {}
        self._dirty: set[uuid.UUID] = set()
        self._flush_lock = asyncio.Lock()
        self._telemetry: deque[tuple[m.SessionMeta, dict[str, Any]]] = deque(
            maxlen=opts.telemetry_buffer
        )
        self._frames = FrameQueue(opts.frame_queue)
        self._inference = Inference(opts.estimators)
        self._record_gate = asyncio.Semaphore(4)
        self._feed_ms: deque[float] = deque(maxlen=20_000)  # compute per frame
        self._infer_ms: deque[float] = deque(maxlen=2_000)
        self._batch_ms: deque[float] = deque(maxlen=5_000)  # one handle_batch, flush included
        self._batch_size: deque[float] = deque(maxlen=5_000)
        self._ahead_ms = 0.0  # the batch's joint measuring, per frame
        self.stats_: dict[str, int] = {
            "batches": 0, "frames": 0, "rejected": 0, "events": 0, "restored": 0,
            "frames_done": 0, "frames_no_pose": 0, "frames_bad": 0, "events_dropped": 0,
            "telemetry_stored": 0, "telemetry_failed": 0,
            "skeletons": 0, "skeletons_dropped": 0,
        }  # fmt: skip

    # --- lifecycle (RebuildingActor: the sessions' timers run again right after a restart) ---

    async def _rebuild(self) -> None:
        try:
            owned = [s for s in await self._store.running() if shard_of(s, self.size) == self.index]
            await self._load(owned)
        except (RedisError, OSError) as exc:  # sessions then load lazily on first request
            log.warning("pose worker rebuild incomplete", extra={"error": type(exc).__name__})

    async def _after_rebuild(self) -> None:
        for loop in (self._housekeeping(), self._frame_loop(), self._telemetry_loop()):
            self._spawn(loop)
        with contextlib.suppress(Exception):
            await self._flush()

    async def _load(self, session_ids: Sequence[uuid.UUID]) -> None:
        docs = await self._store.load(session_ids)
        now = _now_ms()
        for sid, doc in docs.items():
            if sid in self._sessions:
                continue
            try:
                running = _Running.revive(doc, self._config)
            except (KeyError, TypeError, ValueError) as exc:
                log.error("unreadable session state", extra={"error": repr(exc)[:200]})
                continue
            self._sessions[sid] = running
            if running.live.state.ended:
                continue
            self.stats_["restored"] += 1
            self._emit(running, running.live.recovered(), now)

    # --- requests --------------------------------------------------------------------------

    async def handle_batch(self, requests: list[m.Request]) -> list[m.Outcome]:
        await asyncio.shield(self._booted)
        began = time.perf_counter()
        self.stats_["batches"] += 1
        missing = {
            r.session_id
            for r in requests
            if not isinstance(r, m.Start) and r.session_id not in self._sessions
        }
        unavailable = False
        if missing:
            try:
                await self._load(list(missing))
            except (RedisError, OSError):
                unavailable = True
        now = _now_ms()
        results = []
        ahead = self._measure_ahead(requests)  # times itself: see _ahead_ms
        for i, req in enumerate(requests):
            if unavailable and req.session_id in missing:
                results.append(m.Outcome("unavailable", "session state is unavailable, retry"))
                continue
            try:
                if isinstance(req, m.Feed):
                    results.append(self._feed(req, now, ahead.get(i)))
                else:
                    results.append(self._serve(req, now))
            except (GuideError, PoseInputError) as exc:
                self.stats_["rejected"] += 1
                results.append(m.Outcome(exc.code, exc.message))
        await self._flush()
        self._batch_ms.append((time.perf_counter() - began) * 1000)
        self._batch_size.append(len(requests))
        return results

    def _measure_ahead(self, requests: list[m.Request]) -> dict[int, Measured]:
        """The frames of every session's pose batch, measured in one pass per exercise
        geometry (pipelines/pose/_batch.py), by request index. Only for a session with this
        one request in the batch, owned by its sender, whose set is running: then nothing can
        change the tracker between here and its feed (which re-checks, and measures alone if
        the hint no longer fits). Refusals are left to the feed, which reports them."""
        started = time.perf_counter()
        self._ahead_ms = 0.0
        count = Counter(r.session_id for r in requests)
        found: list[tuple[int, ExerciseTracker, Frames]] = []
        for i, req in enumerate(requests):
            if not isinstance(req, m.Feed) or count[req.session_id] != 1:
                continue
            running = self._sessions.get(req.session_id)
            if running is None or not running.meta.owned_by(req.owner):
                continue
            try:
                tracker = running.live.ready_tracker(req.aspect, infer=req.infer_aspect)
                if tracker is None:
                    continue
                frames = tracker.validate(req.t_ms, req.landmarks, req.world)
            except (GuideError, ValueError):  # PoseInputError is one; the feed reports it
                continue
            if len(frames):
                found.append((i, tracker, frames))
        if len(found) < 2:
            return {}
        measured = measure_together([(tracker, frames) for _, tracker, frames in found])
        # Its cost, shared over its frames, counts in each feed's compute per frame.
        total = sum(len(frames) for _, _, frames in found)
        self._ahead_ms = (time.perf_counter() - started) * 1000 / total
        return {i: hint for (i, _, _), hint in zip(found, measured, strict=True)}

    def _owned(self, session_id: uuid.UUID, owner: PatientSubject) -> _Running:
        running = self._sessions.get(session_id)
        if running is None or not running.meta.owned_by(owner):
            raise GuideError("not_found", "no such session")
        return running

    def _serve(self, req: m.Request, now: float) -> m.Outcome:
        if isinstance(req, m.Feed):
            return self._feed(req, now)
        if isinstance(req, m.Frame):
            return self._frame(req, now)
        if isinstance(req, m.Start):
            return self._start(req, now)
        if isinstance(req, m.Control):
            return self._control(req, now)
        running = self._sessions.get(req.session_id)
        if running is None:
            raise GuideError("not_found", "no such session")
        return m.Outcome(view=running.view())

    def _start(self, req: m.Start, now: float) -> m.Outcome:
        running = self._sessions.get(req.session_id)
        if running is None:  # else: a retried start, answered with the session as it is
            try:
                plan = SessionPlan.from_dict(req.plan)
            except PlanError as exc:
                raise GuideError("bad_request", str(exc)) from None
            running = _Running(req.meta, plan, LiveSession(plan, self._config), last_input_ms=now)
            self._sessions[req.session_id] = running
            self._emit(running, running.live.start(now), now)
        return m.Outcome(view=running.view())

    def _feed(self, req: m.Feed, now: float, measured: Measured | None = None) -> m.Outcome:
        running = self._owned(req.session_id, req.owner)
        started = time.perf_counter()
        events = running.live.feed(now, req.t_ms, req.landmarks, aspect=req.aspect,
                                   world=req.world, measured=measured,
                                   infer_aspect=req.infer_aspect)  # fmt: skip
        n = len(req.t_ms)
        if n:
            per_frame = (time.perf_counter() - started) * 1000 / n
            per_frame += self._ahead_ms if measured is not None else 0.0
            self._feed_ms.extend([per_frame] * min(n, 8))
        self.stats_["frames"] += n
        running.armed, running.last_input_ms = True, now
        self._emit(running, events, now)
        if n:
            self._show(running, float(req.t_ms[-1]), req.landmarks[-1], req.aspect, now)
        return m.Outcome(view=running.live.guide.status(), frames=n,
                         events=[e.type for e in events])  # fmt: skip

    def _frame(self, req: m.Frame, now: float) -> m.Outcome:
        running = self._owned(req.session_id, req.owner)
        guide = running.live.guide
        if guide.state.ended:
            raise GuideError("session_ended", f"the session is {guide.state.value}")
        if guide.state is SessionState.PAUSED and guide.pause_reason is PauseReason.USER:
            raise GuideError("session_paused", "the session is paused; resume it first")
        running.armed, running.last_input_ms = True, now
        running.frames["received"] += 1
        self._frames.put(req)
        return m.Outcome(frames=1, dropped=self._frames.dropped)

    def _control(self, req: m.Control, now: float) -> m.Outcome:
        running = self._owned(req.session_id, req.owner)
        try:
            action = Action(req.action)
        except ValueError:
            raise GuideError("bad_request", f"unknown action {req.action[:20]!r}") from None
        running.last_input_ms = now
        events = running.live.control(now, action, req.reps)
        self._emit(running, events, now)
        return m.Outcome(view=running.view(), events=[e.type for e in events])

    async def stop_patient(self, patient: PatientSubject, reason: str) -> int:
        """Abandon every running session of the patient (consent withdrawn): the patient's
        channel gets `session.abandoned {reason}` at once. Returns how many were stopped."""
        now = _now_ms()
        stopped = 0
        for running in list(self._sessions.values()):
            if not running.meta.owned_by(patient) or running.live.state.ended:
                continue
            self._emit(running, running.live.guide.abandon(now, reason), now)
            stopped += 1
        if stopped:
            await self._flush()
        return stopped

    # --- effects ---------------------------------------------------------------------------

    def _emit(self, running: _Running, events: list[GuideEvent], now: float) -> None:
        if not events:
            return
        sid = str(running.meta.session_id)
        channel = running.channel
        durable = False
        for ev in events:
            self._outbox.append((channel, ev.type, {"session_id": sid, **ev.data}))
            durable = durable or ev.type in DURABLE
        self.stats_["events"] += len(events)
        if durable:
            self._dirty.add(running.meta.session_id)
        for event in telemetry_events(running.meta, running.live.guide, events, now):
            self._telemetry.append((running.meta, event))
        if running.live.state.ended:
            self._record_later(running)

    def _show(
        self,
        running: _Running,
        t_ms: float,
        landmarks: NDArray[np.float64],
        aspect: float | None,
        now: float,
    ) -> None:
        """Keep this frame's skeleton for the watchers, at most 10 a second a session."""
        if not due(running.skeleton_ms, now):
            return
        running.skeleton_ms = now
        sid = running.meta.session_id
        self._skeletons[sid] = (running.channel, SKELETON,
                                skeleton(sid, t_ms, landmarks, aspect))  # fmt: skip

    async def _signal(self) -> None:
        """Publish the kept skeletons, never stored; lost ones are not retried (the next
        frame's replaces them)."""
        entries, self._skeletons = list(self._skeletons.values()), {}
        if not entries:
            return
        try:
            await self._events.signal_many(entries)
            self.stats_["skeletons"] += len(entries)
        except (RedisError, OSError):
            self.stats_["skeletons_dropped"] += len(entries)

    async def _flush(self) -> None:
        async with self._flush_lock:
            docs = [
                (sid, r.document(), r.running)
                for sid in self._dirty
                if (r := self._sessions.get(sid)) is not None
            ]
            self._dirty.clear()
            outbox, self._outbox = self._outbox, []
            try:
                await self._store.save(docs)  # before the events that announce the state
                await self._events.publish_many(outbox)
            except (RedisError, OSError) as exc:
                log.warning("pose flush failed", extra={"error": type(exc).__name__})
                self._dirty.update(sid for sid, _, _ in docs)
                if len(outbox) + len(self._outbox) <= MAX_OUTBOX:
                    self._outbox[:0] = outbox
                else:
                    self.stats_["events_dropped"] += len(outbox)
            await self._signal()  # after the events of the same frames

    def _record_later(self, running: _Running) -> None:
        if running.recording or not running.running:
            return
        running.recording = True
        self._spawn(self._record(running))

    async def _record(self, running: _Running) -> None:
        try:
            pool = await self._db()
            async with self._record_gate:
                cid = await asyncio.wait_for(
                    store_completion(pool, running.meta, running.live.guide), RECORD_TIMEOUT_S
                )
            running.completion_id = cid
        except TelerehabError as exc:  # refused for good (e.g. the assignment ended meanwhile)
            running.record_error = type(exc).__name__
            log.error("session completion refused", extra={"error": running.record_error})
        except Exception as exc:
            running.retry_at = time.monotonic() + RECORD_RETRY_S
            log.warning("session completion not stored yet", extra={"error": type(exc).__name__})
            return
        finally:
            running.recording = False
        self._dirty.add(running.meta.session_id)
        await self._flush()
        await self._inference.forget(running.meta.session_id)

    # --- background loops ------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        opts = self._opts
        next_presence = 0.0
        while True:
            await asyncio.sleep(opts.tick_s)
            try:
                now = _now_ms()
                self._tick(now)
                if time.monotonic() >= next_presence:
                    next_presence = time.monotonic() + opts.presence_every_s
                    await self._presence(now)
                await self._flush()
            except Exception:
                log.exception("pose housekeeping failed")

    def _tick(self, now: float) -> None:
        opts = self._opts
        for sid, running in list(self._sessions.items()):
            live = running.live
            self._emit(running, live.tick(now), now)
            if (
                live.state is SessionState.ACTIVE
                and now - running.last_input_ms > opts.idle_s * 1000
            ):
                self._emit(running, live.guide.abandon(now, "idle"), now)
            if live.state.ended:
                if (
                    running.running
                    and not running.recording
                    and time.monotonic() >= running.retry_at
                ):
                    self._record_later(running)
                ended = live.guide.ended_ms or now
                if not running.running and now - ended > opts.evict_after_s * 1000:
                    del self._sessions[sid]

    async def _presence(self, now: float) -> None:
        """Pause a session whose patient's device went away; resume it when it is back."""
        watched = [
            r
            for r in self._sessions.values()
            if not r.live.state.ended
            and not (r.live.state is SessionState.PAUSED
                     and r.live.guide.pause_reason is PauseReason.USER)
        ]  # fmt: skip
        if not watched:
            return
        present = await self._store.present(list({r.meta.patient_id for r in watched}))
        for r in watched:
            if present.get(r.meta.patient_id):
                r.armed, r.absent_since_ms = True, None
                self._emit(r, r.live.reconnected(now), now)
            elif r.armed:
                r.absent_since_ms = r.absent_since_ms or now
                if now - r.absent_since_ms >= self._opts.drop_after_s * 1000:
                    self._emit(r, r.live.disconnected(now), now)

    async def _frame_loop(self) -> None:
        while True:
            frame = await self._frames.get()
            running = self._sessions.get(frame.session_id)
            if running is None or running.live.state.ended:
                continue
            started = time.perf_counter()
            try:
                estimate = await self._inference.estimate(frame.session_id, frame.jpeg)
            except FrameError:
                self.stats_["frames_bad"] += 1
                continue
            except Exception:
                log.exception("pose inference failed")
                continue
            self._infer_ms.append((time.perf_counter() - started) * 1000)
            landmarks = estimate.landmarks if estimate.landmarks is not None else absent()
            if estimate.found:
                running.frames["pose_found"] += 1
            else:
                self.stats_["frames_no_pose"] += 1
            now = _now_ms()
            try:
                events = running.live.feed(
                    now, np.array([frame.t_ms]), landmarks[None], aspect=estimate.aspect
                )
            except (GuideError, PoseInputError):
                self.stats_["rejected"] += 1
                continue
            self.stats_["frames_done"] += 1
            self._emit(running, events, now)
            if estimate.found:
                self._show(running, frame.t_ms, landmarks, estimate.aspect, now)
            with contextlib.suppress(Exception):
                await self._flush()

    async def _telemetry_loop(self) -> None:
        while True:
            await asyncio.sleep(self._opts.telemetry_every_s)
            if not self._telemetry:
                continue
            batch = list(self._telemetry)
            self._telemetry.clear()
            try:
                pool = await self._db()
                stored = await asyncio.wait_for(store_telemetry(pool, batch), RECORD_TIMEOUT_S)
                self.stats_["telemetry_stored"] += stored
            except Exception as exc:  # kept for the next round, within the buffer's bound
                self.stats_["telemetry_failed"] += len(batch)
                log.warning("pose telemetry not stored", extra={"error": type(exc).__name__})
                self._telemetry.extendleft(reversed(batch))

    # --- introspection (tests, bench) ------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        def pct(values: deque[float], q: float) -> float | None:
            return None if not values else round(float(np.percentile(list(values), q)), 3)

        return {
            **self.stats_,
            "sessions": len(self._sessions),
            "frames_queued": len(self._frames),
            "frames_accepted": self._frames.accepted,
            "frames_dropped": self._frames.dropped,
            "feed_ms_p50": pct(self._feed_ms, 50),
            "feed_ms_p95": pct(self._feed_ms, 95),
            "infer_ms_p50": pct(self._infer_ms, 50),
            "infer_ms_p95": pct(self._infer_ms, 95),
            "batch_ms_p50": pct(self._batch_ms, 50),
            "batch_ms_p95": pct(self._batch_ms, 95),
            "batch_size_p50": pct(self._batch_size, 50),
        }
