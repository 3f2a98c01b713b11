"""The patient's telerehab page (/session) and the clinician's live view (/watch) in Chromium.

- With Chromium's fake camera, the page runs MediaPipe Pose from files Cadence serves (the
  WebAssembly, the graph, the model: 200 from this server, nothing from anywhere else) and
  analyses camera frames; a browser that refuses the camera gets a clear message and no session.
- In server mode (the fallback of a device too slow for MediaPipe, forced with `?pose=server`)
  the page sends JPEG camera images as binary `pose.frame` ops, says so, and draws the skeleton
  the server found (`pose.skeleton`, an ephemeral event); MediaPipe is not even loaded.
- The fake camera shows no person, so the page's `?source=` seam replays landmark frames made by
  our generator (pipelines.pose.synthesize_set: squats leaning forward) through the same send
  path: the page counts the reps, shows the cue, the set, the rest, the second set and the end,
  then takes the questionnaire; the patient's clinician follows it live in a second browser,
  the patient's skeleton drawn as it moves; a specialist of another clinic is refused.

Waits are generous (MediaPipe on this CPU analyses about one frame a second); nothing here
measures time."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    Page,
    Request,
    Response,
    Route,
    WebSocket,
    async_playwright,
    expect,
)

from bench.camera import person_video
from pipelines.pose import Faults, SyntheticOptions, synthesize_set
from server import tokens
from server.resources import DB_KEY
from server.telerehab.seed import ensure_global_exercises
from storage.types import Role
from tests.browser.conftest import CHROMIUM, Pages, Site, dumps
from tests.integration.identity._world import PASSWORD, Member, Org, add_org

LIVE = 15_000  # ms: generous bound for feedback to reach a page
MEDIAPIPE = "/static/mediapipe/pose/"


@pytest_asyncio.fixture
async def camera_browser(tmp_path: Path) -> AsyncIterator[Browser]:
    """Chromium with a fake camera that films a photo of a person (bench/camera.py). Camera
    permission is given per context, so a context without it is refused."""
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - one stat, before the browser starts
        pytest.fail(f"{CHROMIUM} is missing: run `make services` or set CADENCE_CHROMIUM")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--disable-gpu",
                "--no-sandbox",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={person_video(tmp_path / 'person.y4m')}",
            ],
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture
async def camera_pages(
    camera_browser: Browser, request: pytest.FixtureRequest
) -> AsyncIterator[Pages]:
    opened = Pages(camera_browser, request.node.name)
    try:
        yield opened
        await opened.screenshots()
    finally:
        await opened.close()
    assert not opened.errors, opened.errors


def headers(site: Site, member: Member) -> dict[str, str]:
    token = tokens.issue(
        site.settings.secret, role=member.role, org_id=member.org_id, user_id=member.user_id,
        patient_id=member.patient_id, specialist_id=member.specialist_id,
    )  # fmt: skip
    return {"Authorization": f"Bearer {token}"}


async def assigned_squats(site: Site, org: Org, *, sets: int, reps: int, rest_s: int) -> str:
    """A published plan of squats, assigned by the clinic's specialist (on the patient's care
    team) to the patient, who agreed to camera sessions. Returns the assignment's id."""
    async with site.app[DB_KEY].platform() as conn:
        library = await ensure_global_exercises(conn)
    admin, specialist = org.members[Role.ADMIN], org.members[Role.SPECIALIST]
    patient = org.members[Role.PATIENT]

    async with aiohttp.ClientSession(site.url) as http:

        async def post(path: str, who: Member, body: Any = None) -> dict[str, Any]:
            async with http.post(path, json=body, headers=headers(site, who)) as r:
                answer: dict[str, Any] = await r.json()
                assert r.status in (200, 201), (path, r.status, answer)
                return answer

        exercise = {"exercise_id": str(library["squat"]), "sets": sets, "reps": reps,
                    "rest_s": rest_s}  # fmt: skip
        sessions = [{"name": "A", "exercises": [exercise]}]
        plan = await post("/v1/treatment-plans", admin, {"name": "Squats", "sessions": sessions})
        await post(f"/v1/treatment-plans/{plan['id']}/publish", admin)
        await post(f"/v1/patients/{patient.patient_id}/care-team", admin,
                   {"specialist_id": str(specialist.specialist_id)})  # fmt: skip
        await post(f"/v1/patients/{patient.patient_id}/consents", patient,
                   {"purpose": "telerehab_camera", "policy_version": "v1"})  # fmt: skip
        assignment = await post(
            f"/v1/patients/{patient.patient_id}/plan-assignments", specialist,
            {"plan_id": plan["id"], "frequency": {"weekdays": [1, 3, 5]},
             "starts_on": datetime.now(UTC).date().isoformat()},
        )  # fmt: skip
    return str(assignment["id"])


async def sign_in(page: Page, site: Site, path: str, member: Member) -> None:
    """Open `path` signed out: the page sends the member to /signin, which sends them back."""
    await page.goto(f"{site.url}{path}")
    await expect(page).to_have_url(re.compile(r"/signin\?next="), timeout=LIVE)
    await page.locator("input[name=email]").fill(member.email)
    await page.locator("input[name=password]").fill(PASSWORD)
    await page.locator("#form button[type=submit]").click()
    await expect(page).to_have_url(re.compile(re.escape(path.split("?")[0]) + r"\?"), timeout=LIVE)


async def test_mediapipe_runs_from_cadence_on_the_fake_camera_and_a_refused_camera_is_told(
    site: Site, camera_pages: Pages
) -> None:
    org = await add_org(site.app[DB_KEY], "rehab")
    assignment = await assigned_squats(site, org, sets=1, reps=3, rest_s=0)
    # MediaPipe in the page, however slow it is on this machine (otherwise the server's turn).
    path = f"/session?assignment={assignment}&pose=browser"
    patient = org.members[Role.PATIENT]

    # Without camera permission: a clear message, and no session is started.
    refused = await camera_pages.new(viewport={"width": 1200, "height": 800})
    await sign_in(refused, site, path, patient)
    await refused.locator("#start").click()
    await expect(refused.locator("#error")).to_contain_text(
        "Camera access was refused", timeout=LIVE
    )
    await expect(refused.locator("#board")).to_be_hidden()
    assert await refused.evaluate("() => document.documentElement.dataset.session") is None

    page = await camera_pages.new(permissions=["camera"], viewport={"width": 1200, "height": 800})
    served: dict[str, Response] = {}
    elsewhere: list[str] = []
    page.on("response", lambda r: served.__setitem__(r.url, r))

    def outside(request: Request) -> None:
        if not request.url.startswith((site.url, "data:", "blob:")):
            elsewhere.append(request.url)

    page.on("request", outside)
    await sign_in(page, site, path, patient)
    await page.locator("#start").click()
    await expect(page.locator("#live")).to_have_text("live", timeout=60_000)
    # MediaPipe, loaded from this server, finds the person the camera films, and the page sends
    # the landmarks, which the server answers. Without a GPU a frame takes about a second here,
    # more on a busy machine.
    status = page.locator("#pose-status")
    await expect(status).to_have_attribute("data-pose", "ready", timeout=60_000)
    await page.wait_for_function(
        "() => (window.cadenceTelerehab?.feedbackMs.length ?? 0) >= 1", timeout=90_000
    )
    measured = await page.evaluate("() => window.cadenceTelerehab")
    assert measured["found"] >= 1 and measured["sent"] >= 1, measured
    assert not measured["errors"], measured
    await expect(status).to_contain_text("frames/s", timeout=LIVE)
    await expect(status).to_have_attribute("data-mode", "browser")
    await expect(page.locator("#error")).to_be_empty()

    by_name = {url.rsplit("/", 1)[-1]: r for url, r in served.items() if MEDIAPIPE in url}
    wasm = by_name.get("pose_solution_simd_wasm_bin.wasm") or by_name.get(
        "pose_solution_wasm_bin.wasm"
    )
    assert wasm is not None, sorted(by_name)
    needed = ["pose.js", "pose_web.binarypb", "pose_landmark_full.tflite",
              "pose_solution_packed_assets.data"]  # fmt: skip
    for response in [wasm, *(by_name[name] for name in needed)]:
        assert response.url.startswith(f"{site.url}{MEDIAPIPE}"), response.url
        assert response.status == 200, (response.url, response.status)
    assert (await wasm.all_headers())["content-type"] == "application/wasm"
    assert not elsewhere, elsewhere  # no CDN, nothing fetched from another host
    await page.locator("#pause").click()  # estimation idles: the screenshot gets the CPU
    await expect(page.locator("#state")).to_have_attribute("data-state", "paused", timeout=LIVE)


async def test_in_server_mode_the_page_sends_jpeg_frames_and_shows_the_servers_skeleton(
    site: Site, camera_pages: Pages
) -> None:
    org = await add_org(site.app[DB_KEY], "rehab")
    assignment = await assigned_squats(site, org, sets=1, reps=3, rest_s=0)
    page = await camera_pages.new(permissions=["camera"], viewport={"width": 1200, "height": 800})
    images: list[bytes] = []
    requested: list[str] = []

    def watch_socket(ws: WebSocket) -> None:
        def sent(payload: str | bytes) -> None:
            if isinstance(payload, bytes) and b'"op":"pose.frame"' in payload[:512]:
                images.append(payload)

        ws.on("framesent", sent)

    page.on("websocket", watch_socket)
    page.on("request", lambda r: requested.append(r.url))
    await sign_in(page, site, f"/session?assignment={assignment}&pose=server",
                  org.members[Role.PATIENT])  # fmt: skip
    await page.locator("#start").click()
    await expect(page.locator("#live")).to_have_text("live", timeout=60_000)
    status = page.locator("#pose-status")
    await expect(status).to_have_attribute("data-mode", "server", timeout=LIVE)
    await expect(status).to_contain_text("on the server")
    # The server finds the person the camera films: its skeleton comes back and is drawn.
    await page.wait_for_function(
        "() => (window.cadenceTelerehab?.skeletons ?? 0) >= 1", timeout=90_000
    )
    overlay = page.locator("#overlay")
    await expect(overlay).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"), timeout=LIVE)
    measured = await page.evaluate("() => window.cadenceTelerehab")
    assert measured["pose"] == "server" and measured["images"] >= 1, measured
    assert not measured["errors"], measured
    assert images, "no binary pose.frame was sent"
    for frame in images:
        size = int.from_bytes(frame[:4], "big")
        header = json.loads(frame[4 : 4 + size])
        assert header["op"] == "pose.frame" and header["session_id"], header
        assert frame[4 + size : 4 + size + 3] == b"\xff\xd8\xff"  # a JPEG follows
    assert not [url for url in requested if MEDIAPIPE in url]  # MediaPipe was never loaded
    await expect(page.locator("#error")).to_be_empty()
    await page.locator("#pause").click()  # no more images: the screenshot gets the CPU
    await expect(page.locator("#state")).to_have_attribute("data-state", "paused", timeout=LIVE)


async def test_where_mediapipe_cannot_run_the_page_falls_back_to_the_server_by_itself(
    site: Site, camera_pages: Pages
) -> None:
    org = await add_org(site.app[DB_KEY], "rehab")
    assignment = await assigned_squats(site, org, sets=1, reps=3, rest_s=0)
    page = await camera_pages.new(permissions=["camera"], viewport={"width": 1200, "height": 800})

    async def missing(route: Route) -> None:
        await route.fulfill(status=404, body="")

    await page.route(f"{site.url}{MEDIAPIPE}pose.js", missing)  # MediaPipe fails to load
    await sign_in(page, site, f"/session?assignment={assignment}", org.members[Role.PATIENT])
    await page.locator("#start").click()
    status = page.locator("#pose-status")
    await expect(status).to_have_attribute("data-mode", "server", timeout=60_000)
    await expect(status).to_contain_text("cannot run on this device")
    await page.wait_for_function(
        "() => (window.cadenceTelerehab?.images ?? 0) >= 1", timeout=60_000
    )
    measured = await page.evaluate("() => window.cadenceTelerehab")
    assert measured["pose"] == "server" and measured["fallback"] == "unavailable", measured
    assert not measured["errors"], measured
    await expect(page.locator("#error")).to_be_empty()
    await page.locator("#pause").click()
    await expect(page.locator("#state")).to_have_attribute("data-state", "paused", timeout=LIVE)


async def test_replayed_landmarks_count_reps_on_the_page_and_the_clinician_watches_live(
    site: Site, camera_pages: Pages
) -> None:
    org = await add_org(site.app[DB_KEY], "rehab")
    other = await add_org(site.app[DB_KEY], "elsewhere")
    assignment = await assigned_squats(site, org, sets=2, reps=3, rest_s=2)
    recorded = synthesize_set(
        "squat",
        SyntheticOptions(reps=3, aspect_ratio=16 / 9, noise_deg=1.0,
                         faults=Faults(trunk_lean_deg=25.0)),
        seed=3,
    )  # fmt: skip
    fixture = dumps({
        "aspect": recorded.aspect_ratio,
        "frames": [{"t": float(t), "landmarks": lm.tolist()}
                   for t, lm in zip(recorded.t_ms, recorded.landmarks, strict=True)],
    })  # fmt: skip
    clinician_watching = asyncio.Event()

    async def recording(route: Route) -> None:
        # The movement starts once the clinician looks: everything after is seen live there.
        await clinician_watching.wait()
        await route.fulfill(status=200, content_type="application/json", body=fixture)

    patient_page = await camera_pages.new(viewport={"width": 1200, "height": 800})
    await patient_page.route(f"{site.url}/fixtures/squats.json", recording)
    await sign_in(patient_page, site,
                  f"/session?assignment={assignment}&source=/fixtures/squats.json&speed=3",
                  org.members[Role.PATIENT])  # fmt: skip
    await patient_page.locator("#start").click()
    await expect(patient_page.locator("#live")).to_have_text("live", timeout=LIVE)
    session_id = await patient_page.evaluate("() => document.documentElement.dataset.session")
    assert session_id

    clinician = await camera_pages.new(viewport={"width": 900, "height": 800})
    await sign_in(clinician, site, f"/watch?session={session_id}", org.members[Role.SPECIALIST])
    await expect(clinician.locator("#live")).to_have_text("live", timeout=LIVE)
    await expect(clinician.locator("#exercise")).to_have_text(re.compile("quat"))
    await expect(clinician.locator("#reps")).to_have_text("0 / 3")
    skeleton = clinician.locator("#skeleton")
    assert await skeleton.get_attribute("data-frames") is None  # nothing drawn before a move
    clinician_watching.set()
    # The patient's skeleton, drawn as the patient moves (the body's 22 points are all seen).
    await expect(skeleton).to_have_attribute("data-points", "22", timeout=LIVE)
    await clinician.wait_for_function(
        "() => Number(document.getElementById('skeleton').dataset.frames ?? 0) >= 3",
        timeout=LIVE,
    )

    for page in (patient_page, clinician):
        log = page.locator("#log")
        await expect(log.locator('li[data-type="rep.counted"]').first).to_be_visible(timeout=LIVE)
        await expect(log.locator('li[data-type="rest.started"]')).to_have_count(1, timeout=LIVE)
        await expect(log.locator('li[data-type="form.cue"]').first).to_contain_text(
            "chest", timeout=LIVE
        )
        await expect(page.locator("#state")).to_have_attribute(
            "data-state", "completed", timeout=30_000
        )
        await expect(log.locator('li[data-type="rep.counted"]')).to_have_count(6)
        await expect(page.locator("#reps")).to_have_text("3 / 3")
        await expect(page.locator("#set")).to_have_text("2 of 2")
        await expect(page.locator("#rom")).to_contain_text("°")

    # The end: the questionnaire, answered from the page.
    form = patient_page.locator("#questionnaire-form")
    await expect(form).to_be_visible(timeout=LIVE)
    await form.locator("input[name=pain]").fill("2")
    await form.locator("textarea[name=note]").fill("Knees fine")
    await patient_page.locator("#questionnaire-submit").click()
    await expect(patient_page.locator("#thanks")).to_be_visible(timeout=LIVE)

    # A specialist of another clinic is refused the session.
    stranger = await camera_pages.new()
    await sign_in(stranger, site, f"/watch?session={session_id}", other.members[Role.SPECIALIST])
    await expect(stranger.locator("#error")).to_contain_text("not found", timeout=LIVE)
    await expect(stranger.locator("#board")).to_be_hidden()


async def test_mediapipe_files_are_served_from_the_package_with_their_types_and_an_etag(
    site: Site,
) -> None:
    async with aiohttp.ClientSession(site.url) as http:
        for name, content_type in (
            ("pose_solution_simd_wasm_bin.wasm", "application/wasm"),
            ("pose_landmark_full.tflite", "application/octet-stream"),
            ("pose.js", "text/javascript"),
        ):
            async with http.get(f"{MEDIAPIPE}{name}") as r:
                body = await r.read()
                assert r.status == 200 and r.content_type == content_type, (name, r.status)
                assert "max-age=86400" in r.headers["Cache-Control"]
                etag = r.headers["ETag"]
            async with http.get(f"{MEDIAPIPE}{name}", headers={"If-None-Match": etag}) as r:
                assert r.status == 304, name
        assert b"'use strict'" in body[:200]  # the loader script itself
        # Only the package's allowlisted files: nothing else of node_modules, no way out of it.
        for name in ("package.json", "README.md", "..%2F..%2Ftypescript%2Fpackage.json",
                     "pose.js.map", "%2E%2E", "pose_landmark_heavy.tflite"):  # fmt: skip
            async with http.get(f"{MEDIAPIPE}{name}") as r:
                assert r.status == 404, (name, r.status)
                assert (await r.json())["error"]["code"] == "not_found"
    # The page may compile WebAssembly and nothing more than the default policy allows.
    async with aiohttp.ClientSession(site.url) as http, http.get("/session") as r:
        assert r.status == 200
        policy = r.headers["Content-Security-Policy"]
        assert "'wasm-unsafe-eval'" in policy and "'unsafe-eval'" not in policy.replace(
            "'wasm-unsafe-eval'", ""
        )
