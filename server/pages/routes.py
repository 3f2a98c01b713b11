"""Routes of the browser pages and their local assets.

Pages: `/book?calendar=<id>` (the public booking page of a calendar), `/desk` (the front desk)
and `/signin`. Files:
`/static/js/cadence.js` (the JavaScript client, with `cadence.d.ts`) and `/static/pages/<file>`
(the pages' scripts and styles). Sign-in with a refresh cookie:
`/pages/auth/{login,refresh,logout}`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.errors import not_found
from server.identity.routes import LOGIN_RATE, LOGOUT_RATE, REFRESH_RATE
from server.identity.schemas import LOGIN
from server.pages import signin
from server.pages.assets import client_asset, page_asset, serve
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


async def signin_page(request: web.Request) -> web.Response:
    return serve(request, page_asset("signin.html"))


HTML: dict[str, Any] = {"type": "string", "description": "an HTML page"}
SCRIPT: dict[str, Any] = {"type": "string", "description": "an ES module, a stylesheet or types"}

ENDPOINTS = [
    Endpoint("GET", "/book", booking_page, ASSET_RATE,
             "The public booking page of a calendar (HTML)", TAG, response_schema=HTML,
             media_type="text/html", query={"calendar": "the calendar's id"}, errors=(429,)),
    Endpoint("GET", "/desk", desk_page, ASSET_RATE,
             "The front desk (HTML): the day grid, check-in, cancel, reschedule, walk-ins, the "
             "waitlist; staff sign in on /signin", TAG, response_schema=HTML,
             media_type="text/html", query={"date": "YYYY-MM-DD (default: today)"},
             errors=(429,)),
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
