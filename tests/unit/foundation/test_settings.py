from __future__ import annotations

import base64

import pytest

from server.settings import (
    DEV_APP_PASSWORD,
    DEV_SECRET,
    Environment,
    Settings,
    SettingsError,
)

BASE = {"DATABASE_URL": "postgresql://u@h/db", "REDIS_URL": "redis://h:6379/0"}
STRONG = {
    "CADENCE_SECRET": "s" * 40,
    "CADENCE_DB_APP_PASSWORD": "p" * 40,
    "CADENCE_DATA_KEYS": "k1:" + base64.b64encode(b"k" * 32).decode(),
    "CADENCE_BLIND_INDEX_KEY": base64.b64encode(b"i" * 32).decode(),
}


@pytest.mark.parametrize("env", ["development", "test"])
def test_an_explicit_local_environment_defaults_the_development_values(env: str) -> None:
    settings = Settings.from_env({**BASE, "CADENCE_ENV": env})
    assert settings.is_local and settings.env is Environment(env)
    assert settings.secret == DEV_SECRET and settings.app_db_password == DEV_APP_PASSWORD


def test_an_unset_environment_is_production_and_defaults_nothing() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(BASE)
    assert any("CADENCE_SECRET" in p for p in err.value.problems)
    assert any("CADENCE_DB_APP_PASSWORD" in p for p in err.value.problems)
    assert Settings.from_env({**BASE, **STRONG}).is_production


@pytest.mark.parametrize("secret", ["", DEV_SECRET, "short"])
def test_production_refuses_missing_default_or_short_secret(secret: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**BASE, **STRONG, "CADENCE_ENV": "production", "CADENCE_SECRET": secret})
    assert [p for p in err.value.problems if "CADENCE_SECRET" in p]


@pytest.mark.parametrize("password", ["", DEV_APP_PASSWORD])
def test_production_refuses_a_missing_or_default_app_role_password(password: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(
            {**BASE, **STRONG, "CADENCE_ENV": "production", "CADENCE_DB_APP_PASSWORD": password}
        )
    assert [p for p in err.value.problems if "CADENCE_DB_APP_PASSWORD" in p]


def test_production_accepts_strong_values() -> None:
    settings = Settings.from_env({**BASE, **STRONG, "CADENCE_ENV": "production"})
    assert settings.is_production and not settings.is_local
    assert settings.app_db_password == STRONG["CADENCE_DB_APP_PASSWORD"]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"REDIS_URL": "http://x", "CADENCE_PORT": "eighty", "CADENCE_ENV": "qa"})
    text = str(err.value)
    for key in ("DATABASE_URL", "REDIS_URL", "CADENCE_PORT", "CADENCE_ENV"):
        assert key in text


def test_lists_are_comma_separated() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "CADENCE_ENV": "test",
            "CADENCE_WS_ORIGINS": "https://a.example, https://b.example",
        }
    )
    assert settings.ws_origins == ("https://a.example", "https://b.example")
