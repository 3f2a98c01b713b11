"""Mounting the WebSocket gateway (realtime/) with the server's implementations of its Protocols."""

from aiohttp import web


def install(app: web.Application) -> None:
    """Filled in by the gateway issue."""
