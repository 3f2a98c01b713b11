"""Routes of the browser pages and their local assets.

Pages: `/book?calendar=<id>` (the public booking page of a calendar), `/desk` (the front desk),
`/session?assignment=<id>` (a patient's guided telerehab session), `/watch?session=<id>` (a
clinician's live view of it), `/visit?appointment=<id>` (a virtual visit's video room) and
`/signin`. MediaPipe Pose: `/static/mediapipe/pose/<file>`. Files:
`/static/js/cadence.js` (the JavaScript client, with `cadence.d.ts`) and `/static/pages/<file>`
(the pages' scripts and styles). Sign-in with a refresh cookie:
`/pages/auth/{login,refresh,logout}`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from server.errors import not_found
from server.identity.routes import LOGIN_RATE, LOGOUT_RATE, REFRESH_RATE
from server.identity.schemas import LOGIN
from server.pages import signin
from server.pages.assets import client_asset, mediapipe_asset, page_asset, serve
from server.routing import Endpoint, RateLimit, public

TAG = "pages"
# A page load fetches a handful of files; a busy front desk reloads often.
ASSET_RATE = public(RateLimit(limit=600, window_s=10))
CLIENT_FILES = frozenset({"cadence.js", "cadence.d.ts"})


async def client_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in CLIENT_FILES:
        raise not_found("file")
    return serve(request, client_asset(name))


async def page_file(request: web.Request) -> web.Response:
    return serve(request, page_asset(request.match_info["name"]))


async def booking_page(request: web.Request) -> web.Response:
    # The page reads `?calendar=` itself and says "not found" for an unknown or private one.
    return serve(request, page_asset("booking.html"))


async def desk_page(request: web.Request) -> web.Response:
    # Public like /signin: a navigation carries no bearer token (it lives in the page's memory);
    # the page signs in from the refresh cookie and every call it makes is staff-only.
    return serve(request, page_asset("desk.html"))


# MediaPipe compiles its WebAssembly: the one thing this page may do beyond the default policy.
TELEREHAB_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; frame-ancestors 'none'; "
    "object-src 'none'"
)


async def telerehab_page(request: web.Request) -> web.Response:
    # Public like /desk: the patient signs in on /signin; the session is started over REST.
    response = serve(request, page_asset("telerehab.html"))
    response.headers["Content-Security-Policy"] = TELEREHAB_CSP
    return response


async def watch_page(request: web.Request) -> web.Response:
    # Public like /desk: the session's data is read with the clinician's token, which
    # GET /v1/telerehab/sessions/{id} and the patient channel's subscription both check.
    return serve(request, page_asset("watch.html"))


async def visit_page(request: web.Request) -> web.Response:
    # Public like /desk: GET /v1/appointments/{id}/visit and the room's channel decide who
    # enters (the appointment's patient and specialist only).
    return serve(request, page_asset("visit.html"))


async def mediapipe_file(request: web.Request) -> web.Response:
    # Megabytes read once: off the event loop.
    asset = await asyncio.to_thread(mediapipe_asset, request.match_info["name"])
    return serve(request, asset)


async def signin_page(request: web.Request) -> web.Response:
    return serve(request, page_asset("signin.html"))


HTML: dict[str, Any] = {"type": "string", "description": "an HTML page"}
SCRIPT: dict[str, Any] = {"type": "string", "description": "an ES module, a stylesheet or types"}
BINARY: dict[str, Any] = {
    "type": "string",
    "format": "binary",
    "description": "a script, WebAssembly, a model or packed assets of @mediapipe/pose",
}

ENDPOINTS = [
    Endpoint("GET", "/book", booking_page, ASSET_RATE,
             "The public booking page of a calendar (HTML)", TAG, response_schema=HTML,
             media_type="text/html", query={"calendar": "the calendar's id"}, errors=(429,)),
    Endpoint("GET", "/desk", desk_page, ASSET_RATE,
             "The front desk (HTML): the day grid, check-in, cancel, reschedule, walk-ins, the "
             "waitlist; staff sign in on /signin", TAG, response_schema=HTML,
             media_type="text/html", query={"date": "YYYY-MM-DD (default: today)"},
             errors=(429,)),
    Endpoint("GET", "/session", telerehab_page, ASSET_RATE,
             "The patient's guided telerehab page (HTML): camera, pose estimation in the "
             "browser (MediaPipe Pose), reps, cues, sets and rests live; patients sign in on "
             "/signin", TAG, response_schema=HTML, media_type="text/html",
             query={"assignment": "the plan assignment's id"}, errors=(429,)),
    Endpoint("GET", "/watch", watch_page, ASSET_RATE,
             "A clinician's live view of a telerehab session (HTML): reps, range of motion, "
             "cues, sets and rests as they happen", TAG, response_schema=HTML,
             media_type="text/html", query={"session": "the telerehab session's id"},
             errors=(429,)),
    Endpoint("GET", "/visit", visit_page, ASSET_RATE,
             "The video room of a virtual appointment (HTML): WebRTC between its patient and "
             "specialist, signalled over the WebSocket; both sign in on /signin", TAG,
             response_schema=HTML, media_type="text/html",
             query={"appointment": "the appointment's id"}, errors=(429,)),
    Endpoint("GET", "/static/mediapipe/pose/{name}", mediapipe_file, ASSET_RATE,
             "A file of MediaPipe Pose for the telerehab page (its loader script, WebAssembly, "
             "graph, models), served from the locked npm package: nothing from a CDN", TAG,
             response_schema=BINARY, media_type="application/octet-stream",
             errors=(404, 429)),
    Endpoint("GET", "/signin", signin_page, ASSET_RATE, "The sign-in page (HTML)", TAG,
             response_schema=HTML, media_type="text/html", errors=(429,)),
    Endpoint("GET", "/static/js/{name}", client_file, ASSET_RATE,
             "The JavaScript client (cadence.js, an ES module) and its types (cadence.d.ts)",
             TAG, response_schema=SCRIPT, media_type="text/javascript", errors=(404, 429)),
    Endpoint("GET", "/static/pages/{name}", page_file, ASSET_RATE,
             "A script or style of the pages (text/javascript or text/css)", TAG,
             response_schema=SCRIPT, media_type="text/javascript", errors=(404, 429)),
    Endpoint("POST", "/pages/auth/login", signin.login, public(LOGIN_RATE),
             "Sign in from a page: the access token in the answer, the refresh token in an "
             "HttpOnly, Secure, SameSite=Strict cookie; the Origin must be this server", TAG,
             LOGIN, signin.SESSION_RESPONSE, errors=(401, 403, 429, 503)),
    Endpoint("POST", "/pages/auth/refresh", signin.refresh, public(REFRESH_RATE),
             "A fresh access token from the refresh cookie (rotated); the Origin must be this "
             "server and the body repeats the cadence_csrf cookie", TAG, signin.CSRF_BODY,
             signin.SESSION_RESPONSE, errors=(401, 403, 429, 503)),
    Endpoint("POST", "/pages/auth/logout", signin.logout, public(LOGOUT_RATE),
             "Sign out from a page: revoke the cookie's sign-in and clear the cookie", TAG,
             signin.CSRF_BODY, status=204, errors=(403, 429)),
]  # fmt: skip
