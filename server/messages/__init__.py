"""Messages: REST endpoints."""
