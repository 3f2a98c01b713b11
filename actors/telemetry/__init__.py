"""Telemetry ingest: device batches validated and written with COPY, and the facade
(`TelemetryCommands`) the server calls it through."""

from actors.telemetry._commands import IngestFailed, SubmitResult, TelemetryCommands
from actors.telemetry._ingest import IngestRequest, IngestResult, TelemetryIngest

__all__ = [
    "IngestFailed",
    "IngestRequest",
    "IngestResult",
    "SubmitResult",
    "TelemetryCommands",
    "TelemetryIngest",
]
