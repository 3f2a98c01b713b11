"""Piccolo's configuration, used only to run migrations (as the schema owner)."""

import os

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

DB = PostgresEngine(config={"dsn": os.environ["CADENCE_MIGRATION_DSN"]})
APP_REGISTRY = AppRegistry(apps=["migrations.piccolo_app"])
