"""Automations and segments: REST endpoints."""
