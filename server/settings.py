"""One validated settings object, read once from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

DEV_SECRET = "cadence-development-secret-change-me"
_MIN_SECRET_LEN = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class SettingsError(ValueError):
    """Raised with every problem found, so an operator fixes them in one go."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str
    secret: str
    env: Environment = Environment.DEVELOPMENT
    ray_address: str = ""
    # Every Redis key and pub/sub topic starts with this, so test runs and tenants of one Redis
    # server never see each other's keys.
    redis_prefix: str = "cadence:"
    app_db_password: str = "cadence_app"
    host: str = "127.0.0.1"
    port: int = 8080
    cors_origins: tuple[str, ...] = ()
    ws_origins: tuple[str, ...] = ()
    jwks_url: str = ""
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    calendar_shards: int = 0  # 0 = one per CPU
    pose_workers: int = 0
    ingest_actors: int = 0  # 0 = one per CPU
    stream_retention_s: int = 600
    stream_maxlen: int = 100_000
    s3_endpoint_url: str = ""
    s3_bucket: str = "cadence"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def text(key: str, default: str = "") -> str:
            return env.get(key, default).strip()

        def integer(key: str, default: int, low: int = 0) -> int:
            raw = text(key)
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{key} must be an integer, got {raw!r}")
                return default
            if value < low:
                problems.append(f"{key} must be >= {low}")
            return value

        def url(key: str, schemes: tuple[str, ...], default: str = "") -> str:
            raw = text(key, default)
            if not raw:
                problems.append(f"{key} is required")
            elif urlsplit(raw).scheme not in schemes:
                problems.append(f"{key} must be a {'/'.join(schemes)} URL")
            return raw

        def csv(key: str) -> tuple[str, ...]:
            return tuple(p.strip() for p in text(key).split(",") if p.strip())

        try:
            environment = Environment(text("CADENCE_ENV", "development").lower())
        except ValueError:
            problems.append("CADENCE_ENV must be one of development, test, production")
            environment = Environment.DEVELOPMENT

        secret = text("CADENCE_SECRET")
        if environment is Environment.PRODUCTION:
            if not secret or secret == DEV_SECRET:
                problems.append("CADENCE_SECRET must be set to a non-default value in production")
            elif len(secret) < _MIN_SECRET_LEN:
                problems.append(f"CADENCE_SECRET must be at least {_MIN_SECRET_LEN} characters")
        secret = secret or DEV_SECRET

        settings = cls(
            database_url=url("DATABASE_URL", ("postgres", "postgresql")),
            redis_url=url("REDIS_URL", ("redis", "rediss", "unix")),
            secret=secret,
            env=environment,
            ray_address=text("RAY_ADDRESS"),
            redis_prefix=text("CADENCE_REDIS_PREFIX", "cadence:"),
            app_db_password=text("CADENCE_DB_APP_PASSWORD", "cadence_app"),
            host=text("CADENCE_HOST", "127.0.0.1"),
            port=integer("CADENCE_PORT", 8080, low=1),
            cors_origins=csv("CADENCE_CORS_ORIGINS"),
            ws_origins=csv("CADENCE_WS_ORIGINS"),
            jwks_url=text("CADENCE_JWKS_URL"),
            access_token_ttl_s=integer("CADENCE_ACCESS_TTL_S", 900, low=30),
            refresh_token_ttl_s=integer("CADENCE_REFRESH_TTL_S", 30 * 24 * 3600, low=60),
            max_body_bytes=integer("CADENCE_MAX_BODY_BYTES", 1024 * 1024, low=1024),
            log_level=text("CADENCE_LOG_LEVEL", "INFO").upper(),
            calendar_shards=integer("CADENCE_CALENDAR_SHARDS", 0),
            pose_workers=integer("CADENCE_POSE_WORKERS", 0),
            ingest_actors=integer("CADENCE_INGEST_ACTORS", 0),
            stream_retention_s=integer("CADENCE_STREAM_RETENTION_S", 600, low=300),
            stream_maxlen=integer("CADENCE_STREAM_MAXLEN", 100_000, low=1000),
            s3_endpoint_url=text("CADENCE_S3_ENDPOINT_URL"),
            s3_bucket=text("CADENCE_S3_BUCKET", "cadence"),
        )
        if settings.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            problems.append("CADENCE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        if problems:
            raise SettingsError(problems)
        return settings
