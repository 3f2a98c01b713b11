"""Webhooks: REST endpoints."""
