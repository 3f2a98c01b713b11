"""Dashboard: REST endpoints."""
