"""The attacks run against the real server: the integration suite's fixtures (a freshly migrated
database shared by the whole directory, Redis under a run prefix, Ray, the app and its client)."""

from tests.integration.conftest import (  # noqa: F401 - fixtures, found by pytest by name
    app,
    client,
    database_url,
    mail_dir,
    ray_session,
    run_prefix,
    settings,
)
