"""Cadence's HTTP and WebSocket server: composes storage, actors and realtime into one app."""
