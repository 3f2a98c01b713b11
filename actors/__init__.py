"""Ray actors (calendar shards, pose workers, telemetry ingest) and the facades that call them."""
