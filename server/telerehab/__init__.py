"""telerehab domain."""
