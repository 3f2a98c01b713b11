"""Ray actors (calendar shards, pose workers, telemetry ingest) and the command facades that call them."""
