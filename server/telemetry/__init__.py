"""Telemetry: ingest over REST (and the WebSocket op), GDPR export, aggregates read side."""
