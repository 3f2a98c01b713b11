"""Schema history (Piccolo migrations, raw SQL where PostgreSQL features need it)."""

from migrations.runner import migrate

__all__ = ["migrate"]
