"""Notifications: REST endpoints."""
