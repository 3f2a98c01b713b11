"""One validated settings object, read once from the environment at start-up."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from server.visit_settings import VisitSettings, visit_settings
from storage.crypto import DEV_INDEX_KEY, DEV_KEYS, KeyRing

# Known to everyone who reads this file: accepted only with an explicit CADENCE_ENV of
# development or test, never as a fallback anywhere else (`make run` uses the strong values
# server/devstack.py generates into .data/ instead).
DEV_SECRET = "cadence-development-secret-change-me"
DEV_APP_PASSWORD = "cadence_app"
_MIN_SECRET_LEN = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


LOCAL_ENVIRONMENTS = frozenset({Environment.DEVELOPMENT, Environment.TEST})


def environment_of(environ: Mapping[str, str]) -> Environment | None:
    """The declared CADENCE_ENV; unset means production (secrets are never defaulted unless a
    developer says so); None for a value that is no environment."""
    try:
        return Environment(environ.get("CADENCE_ENV", "").strip().lower() or "production")
    except ValueError:
        return None


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
    env: Environment = Environment.PRODUCTION
    ray_address: str = ""
    # Every Redis key and pub/sub topic starts with this, so test runs and tenants of one Redis
    # server never see each other's keys.
    redis_prefix: str = "cadence:"
    app_db_password: str = DEV_APP_PASSWORD
    host: str = "127.0.0.1"
    port: int = 8080
    cors_origins: tuple[str, ...] = ()
    ws_origins: tuple[str, ...] = ()
    jwks_url: str = ""
    # An identity provider's tokens must name this issuer and audience (required with jwks_url).
    jwks_issuer: str = ""
    jwks_audience: str = ""
    # Where outgoing mail (password resets) is written, one file per message; empty: not sent.
    mail_dir: str = ""
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    calendar_shards: int = 0  # 0 = one per CPU
    pose_workers: int = 0
    ingest_actors: int = 0  # 0 = one per CPU
    # Added to the nice value of bulk work (telemetry ingest actors, `cadence consume` workers),
    # so holds, bookings, pushes and pose feedback win the CPU when it is short.
    bulk_niceness: int = 5
    stream_retention_s: int = 600
    stream_maxlen: int = 100_000
    # Run the stream consumers and pumps (actors/consumers) inside `cadence serve`; off when
    # they run as separate `cadence consume` workers (and in tests, which start their own).
    consumers: bool = True
    consumer_name: str = ""
    # Networks webhook deliveries may reach although private ("10.1.0.0/16,fd00::/8").
    webhook_allowlist: tuple[str, ...] = ()
    # Notifications out (actors/notifications): SMTP for e-mail (without a host, e-mail is
    # written to `mail_dir`), an HTTP provider for SMS (without a URL, no SMS is sent).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = ""
    smtp_starttls: str = "auto"  # auto (when offered) | on | off
    smtp_tls: bool = False  # implicit TLS (port 465)
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    sms_url: str = ""
    sms_token: str = field(default="", repr=False)
    # Object storage (storage/blobs): S3 or an S3-compatible server (MinIO) when a bucket is
    # named, else files under `blob_dir` served through signed links.
    s3_endpoint_url: str = ""
    s3_public_endpoint_url: str = ""  # where browsers reach it, for links (default: the same)
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = field(default="", repr=False)
    blob_dir: str = ""
    attachment_max_bytes: int = 20 * 1024 * 1024
    # Where patients open links (intake forms): the web app's origin; empty: the API's own origin.
    public_url: str = ""
    # The intake summary (pipelines/intake_summary): `local` (deterministic) or
    # `package.module:name` of another implementation.
    intake_summarizer: str = "local"
    # The PDF renderer (actors/documents): worker processes (lowered CPU priority), and renders
    # running or waiting beyond which a request is answered 503.
    document_workers: int = 1
    document_queue: int = 4
    # Field encryption at rest (storage/crypto.py): data keys by id, the active one, and the
    # blind-index key. Development and test fall back to fixed keys; elsewhere they are required.
    data_keys: KeyRing = field(default_factory=lambda: KeyRing.parse(DEV_KEYS, DEV_INDEX_KEY))
    # Virtual visits (server/visit_settings.py): the room's window, STUN/TURN, the provider.
    visit: VisitSettings = field(default_factory=VisitSettings)
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def is_local(self) -> bool:
        """Development or test, declared explicitly: demo data and known defaults allowed."""
        return self.env in LOCAL_ENVIRONMENTS

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

        def flag(key: str, default: bool) -> bool:
            raw = text(key).lower()
            if not raw:
                return default
            if raw not in ("on", "off", "true", "false", "1", "0"):
                problems.append(f"{key} must be on or off, got {raw!r}")
                return default
            return raw in ("on", "true", "1")

        def csv(key: str) -> tuple[str, ...]:
            return tuple(p.strip() for p in text(key).split(",") if p.strip())

        declared = environment_of(env)
        if declared is None:
            problems.append("CADENCE_ENV must be one of development, test, production")
        environment = declared or Environment.PRODUCTION

        secret = text("CADENCE_SECRET")
        app_password = text("CADENCE_DB_APP_PASSWORD")
        if environment not in LOCAL_ENVIRONMENTS:
            # Without an explicit development/test environment nothing is defaulted: a missing
            # value would otherwise be one every reader of this repository knows.
            if not secret or secret == DEV_SECRET:
                problems.append(
                    "CADENCE_SECRET must be set to a non-default value "
                    "(or set CADENCE_ENV=development)"
                )
            elif len(secret) < _MIN_SECRET_LEN:
                problems.append(f"CADENCE_SECRET must be at least {_MIN_SECRET_LEN} characters")
            if not app_password or app_password == DEV_APP_PASSWORD:
                problems.append(
                    "CADENCE_DB_APP_PASSWORD must be set to a non-default value "
                    "(or set CADENCE_ENV=development)"
                )
        secret = secret or DEV_SECRET
        data_keys = _keyring(env, environment, problems)
        app_password = app_password or DEV_APP_PASSWORD

        settings = cls(
            database_url=url("DATABASE_URL", ("postgres", "postgresql")),
            redis_url=url("REDIS_URL", ("redis", "rediss", "unix")),
            secret=secret,
            env=environment,
            ray_address=text("RAY_ADDRESS"),
            redis_prefix=text("CADENCE_REDIS_PREFIX", "cadence:"),
            app_db_password=app_password,
            host=text("CADENCE_HOST", "127.0.0.1"),
            port=integer("CADENCE_PORT", 8080, low=1),
            cors_origins=csv("CADENCE_CORS_ORIGINS"),
            ws_origins=csv("CADENCE_WS_ORIGINS"),
            jwks_url=text("CADENCE_JWKS_URL"),
            jwks_issuer=text("CADENCE_JWKS_ISSUER"),
            jwks_audience=text("CADENCE_JWKS_AUDIENCE"),
            mail_dir=text("CADENCE_MAIL_DIR", _dev_mail_dir(environment)),
            access_token_ttl_s=integer("CADENCE_ACCESS_TTL_S", 900, low=30),
            refresh_token_ttl_s=integer("CADENCE_REFRESH_TTL_S", 30 * 24 * 3600, low=60),
            max_body_bytes=integer("CADENCE_MAX_BODY_BYTES", 1024 * 1024, low=1024),
            log_level=text("CADENCE_LOG_LEVEL", "INFO").upper(),
            calendar_shards=integer("CADENCE_CALENDAR_SHARDS", 0),
            pose_workers=integer("CADENCE_POSE_WORKERS", 0),
            ingest_actors=integer("CADENCE_INGEST_ACTORS", 0),
            bulk_niceness=integer("CADENCE_BULK_NICENESS", 5),
            stream_retention_s=integer("CADENCE_STREAM_RETENTION_S", 600, low=300),
            stream_maxlen=integer("CADENCE_STREAM_MAXLEN", 100_000, low=1000),
            consumers=flag("CADENCE_CONSUMERS", environment is not Environment.TEST),
            consumer_name=text("CADENCE_CONSUMER_NAME"),
            webhook_allowlist=csv("CADENCE_WEBHOOK_ALLOWLIST"),
            smtp_host=text("CADENCE_SMTP_HOST"),
            smtp_port=integer("CADENCE_SMTP_PORT", 25, low=1),
            smtp_from=text("CADENCE_SMTP_FROM"),
            smtp_starttls=text("CADENCE_SMTP_STARTTLS", "auto").lower(),
            smtp_tls=flag("CADENCE_SMTP_TLS", False),
            smtp_username=text("CADENCE_SMTP_USERNAME"),
            smtp_password=text("CADENCE_SMTP_PASSWORD"),
            sms_url=text("CADENCE_SMS_URL"),
            sms_token=text("CADENCE_SMS_TOKEN"),
            s3_endpoint_url=text("CADENCE_S3_ENDPOINT_URL"),
            s3_public_endpoint_url=text("CADENCE_S3_PUBLIC_ENDPOINT_URL"),
            s3_bucket=text("CADENCE_S3_BUCKET"),
            s3_region=text("CADENCE_S3_REGION", "us-east-1"),
            s3_access_key_id=text("CADENCE_S3_ACCESS_KEY_ID"),
            s3_secret_access_key=text("CADENCE_S3_SECRET_ACCESS_KEY"),
            blob_dir=text("CADENCE_BLOB_DIR", _dev_data_dir(environment, "blobs")),
            attachment_max_bytes=integer(
                "CADENCE_ATTACHMENT_MAX_BYTES", 20 * 1024 * 1024, low=1024
            ),
            public_url=text("CADENCE_PUBLIC_URL").rstrip("/"),
            intake_summarizer=text("CADENCE_INTAKE_SUMMARIZER", "local"),
            document_workers=integer("CADENCE_DOCUMENT_WORKERS", 1, low=1),
            document_queue=integer("CADENCE_DOCUMENT_QUEUE", 4, low=1),
            data_keys=data_keys,
            visit=visit_settings(env, environment in LOCAL_ENVIRONMENTS, problems),
        )
        if settings.jwks_url and not (settings.jwks_issuer and settings.jwks_audience):
            problems.append(
                "CADENCE_JWKS_ISSUER and CADENCE_JWKS_AUDIENCE are required with CADENCE_JWKS_URL"
            )
        for network in settings.webhook_allowlist:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                problems.append(f"CADENCE_WEBHOOK_ALLOWLIST: not a network (CIDR): {network!r}")
        if settings.intake_summarizer != "local" and not re.fullmatch(
            r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", settings.intake_summarizer
        ):
            problems.append("CADENCE_INTAKE_SUMMARIZER must be `local` or `package.module:name`")
        if settings.public_url and urlsplit(settings.public_url).scheme not in ("http", "https"):
            problems.append("CADENCE_PUBLIC_URL must be an http(s) URL")
        if settings.smtp_starttls not in ("auto", "on", "off"):
            problems.append("CADENCE_SMTP_STARTTLS must be auto, on or off")
        if settings.sms_url and urlsplit(settings.sms_url).scheme not in ("http", "https"):
            problems.append("CADENCE_SMS_URL must be an http(s) URL")
        for key, value in (
            ("CADENCE_S3_ENDPOINT_URL", settings.s3_endpoint_url),
            ("CADENCE_S3_PUBLIC_ENDPOINT_URL", settings.s3_public_endpoint_url),
        ):
            if value and urlsplit(value).scheme not in ("http", "https"):
                problems.append(f"{key} must be an http(s) URL")
        if bool(settings.s3_access_key_id) != bool(settings.s3_secret_access_key):
            problems.append("CADENCE_S3_ACCESS_KEY_ID and CADENCE_S3_SECRET_ACCESS_KEY go together")
        if settings.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            problems.append("CADENCE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        if problems:
            raise SettingsError(problems)
        return settings


def _dev_mail_dir(environment: Environment) -> str:
    """Development and test write mail under the checkout's `.data/`; production has no default."""
    return _dev_data_dir(environment, "mail")


def _dev_data_dir(environment: Environment, name: str) -> str:
    """`.data/<name>` of the checkout in development and test; production has no default."""
    if environment is Environment.PRODUCTION:
        return ""
    return str(Path(__file__).resolve().parent.parent / ".data" / name)


def _keyring(env: Mapping[str, str], environment: Environment, problems: list[str]) -> KeyRing:
    """CADENCE_DATA_KEYS ("kid:base64,kid2:base64"; the first seals unless
    CADENCE_DATA_KEY_ACTIVE names another) and CADENCE_BLIND_INDEX_KEY (base64, 32 bytes)."""
    keys = env.get("CADENCE_DATA_KEYS", "").strip()
    index = env.get("CADENCE_BLIND_INDEX_KEY", "").strip()
    active = env.get("CADENCE_DATA_KEY_ACTIVE", "").strip()
    if not keys and not index and environment in LOCAL_ENVIRONMENTS:
        return KeyRing.parse(DEV_KEYS, DEV_INDEX_KEY)
    if not keys or not index:
        problems.append(
            "CADENCE_DATA_KEYS and CADENCE_BLIND_INDEX_KEY must be set "
            "(or set CADENCE_ENV=development)"
        )
        return KeyRing.parse(DEV_KEYS, DEV_INDEX_KEY)
    try:
        return KeyRing.parse(keys, index, active)
    except ValueError as exc:
        problems.append(f"CADENCE_DATA_KEYS: {exc}")
        return KeyRing.parse(DEV_KEYS, DEV_INDEX_KEY)
