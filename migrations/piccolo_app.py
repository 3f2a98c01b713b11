from pathlib import Path

from piccolo.conf.apps import AppConfig

APP_CONFIG = AppConfig(
    app_name="cadence",
    migrations_folder_path=str(Path(__file__).parent / "versions"),
    table_classes=[],
    migration_dependencies=[],
    commands=[],
)
