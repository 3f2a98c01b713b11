"""The bench suite: scenarios that measure Cadence beside a named peer in the same run."""
