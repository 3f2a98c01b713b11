from __future__ import annotations

import pytest

from server.settings import DEV_SECRET, Environment, Settings, SettingsError

BASE = {"DATABASE_URL": "postgresql://u@h/db", "REDIS_URL": "redis://h:6379/0"}


def test_development_defaults_to_the_development_secret() -> None:
    settings = Settings.from_env(BASE)
    assert settings.env is Environment.DEVELOPMENT
    assert settings.secret == DEV_SECRET


@pytest.mark.parametrize("secret", ["", DEV_SECRET, "short"])
def test_production_refuses_missing_default_or_short_secret(secret: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**BASE, "CADENCE_ENV": "production", "CADENCE_SECRET": secret})
    assert any("CADENCE_SECRET" in p for p in err.value.problems)


def test_production_accepts_a_strong_secret() -> None:
    settings = Settings.from_env({**BASE, "CADENCE_ENV": "production", "CADENCE_SECRET": "s" * 40})
    assert settings.is_production


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"REDIS_URL": "http://x", "CADENCE_PORT": "eighty", "CADENCE_ENV": "qa"})
    text = str(err.value)
    for key in ("DATABASE_URL", "REDIS_URL", "CADENCE_PORT", "CADENCE_ENV"):
        assert key in text


def test_lists_are_comma_separated() -> None:
    settings = Settings.from_env(
        {**BASE, "CADENCE_WS_ORIGINS": "https://a.example, https://b.example"}
    )
    assert settings.ws_origins == ("https://a.example", "https://b.example")
