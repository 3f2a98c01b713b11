"""docker-compose.yml and the Dockerfile, checked without Docker (CI has none): the structure
compose needs to start, one image for every Cadence process, every required setting wired with
no default secret, the load balancer's config the one the failover test runs, and the image
installed with the Makefile's own commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (Ray's dependency) ships no stubs

from server.settings import Environment, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
REPLICAS = ("cadence-1", "cadence-2")
CADENCE_PROCESSES = (*REPLICAS, "migrate", "ray-head", "ray-worker")
# Values an operator must supply: compose refuses to start without them (`${X:?message}`).
SECRETS = (
    "POSTGRES_PASSWORD",
    "CADENCE_SECRET",
    "CADENCE_DB_APP_PASSWORD",
    "CADENCE_DATA_KEYS",
    "CADENCE_BLIND_INDEX_KEY",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "RAY_AUTH_TOKEN",
)
_VAR = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def _interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's variable substitution: ${X}, ${X:-default}, ${X:?error}; `$$` is a `$`."""

    def one(match: re.Match[str]) -> str:
        name, kind, arg = match.groups()
        if name in given:
            return given[name]
        if kind == "-":
            return arg
        raise KeyError(f"{name} is required: {arg}")

    return "$".join(_VAR.sub(one, part) for part in value.split("$$"))


def _operator_values() -> dict[str, str]:
    return {
        "POSTGRES_PASSWORD": "pg-" + "p" * 30,
        "CADENCE_SECRET": "s" * 48,
        "CADENCE_DB_APP_PASSWORD": "a" * 40,
        "CADENCE_DATA_KEYS": "k1:" + "A" * 43 + "=",
        "CADENCE_BLIND_INDEX_KEY": "B" * 43 + "=",
        "MINIO_ROOT_USER": "cadence",
        "MINIO_ROOT_PASSWORD": "m" * 32,
        "RAY_AUTH_TOKEN": "r" * 40,
    }


def _environment(service: str, given: dict[str, str]) -> dict[str, str]:
    raw = SERVICES[service].get("environment") or {}
    return {k: _interpolate(str(v), given) for k, v in raw.items()}


def test_every_cadence_process_runs_the_one_image_built_from_the_dockerfile() -> None:
    for name in CADENCE_PROCESSES:
        service = SERVICES[name]
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
        assert service["image"] == "cadence:local", name
    images = [s.get("image", "") for s in SERVICES.values()]
    assert not any(i.startswith("rayproject/") for i in images), "Ray must run our image"
    assert (ROOT / "Dockerfile").is_file()


def test_two_replicas_behind_haproxy_on_the_config_the_failover_test_runs() -> None:
    lb = SERVICES["haproxy"]
    env = _environment("haproxy", {})
    assert {env["LB_SERVER_1"], env["LB_SERVER_2"]} == {f"{r}:8080" for r in REPLICAS}
    assert env["LB_BALANCE"] == "leastconn"
    for replica in REPLICAS:
        assert "--port 8080" in " ".join(SERVICES[replica]["command"])
    (config,) = lb["configs"]
    shipped = COMPOSE["configs"][config["source"]]["content"].replace("$$", "$")
    tested = (ROOT / "tests" / "support" / "haproxy.cfg").read_text()
    assert shipped == tested


def test_the_replicas_settings_validate_in_production_and_use_minio() -> None:
    for replica in (*REPLICAS, "migrate"):
        env = _environment(replica, _operator_values())
        settings = Settings.from_env(env)  # raises SettingsError on anything missing or weak
        assert settings.env is Environment.PRODUCTION
        assert settings.s3_bucket == "cadence"
        assert settings.s3_endpoint_url == "http://minio:9000"
        assert settings.ray_address == "ray-head:6380"
        assert env["RAY_AUTH_MODE"] == "token"
    # The database password is the one the postgres service is given; MinIO's credentials are
    # the blob store's.
    values = _operator_values()
    db = _environment("postgres", values)
    cadence = _environment("cadence-1", values)
    assert f":{db['POSTGRES_PASSWORD']}@postgres:5432/" in cadence["DATABASE_URL"]
    minio = _environment("minio", values)
    assert cadence["CADENCE_S3_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert cadence["CADENCE_S3_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    for ray_node in ("ray-head", "ray-worker"):
        node = _environment(ray_node, values)
        assert node["RAY_AUTH_TOKEN"] == cadence["RAY_AUTH_TOKEN"]


@pytest.mark.parametrize("missing", SECRETS)
def test_no_secret_has_a_default(missing: str) -> None:
    given = {k: v for k, v in _operator_values().items() if k != missing}
    refused = False
    for name in SERVICES:
        try:
            _environment(name, given)
        except KeyError:
            refused = True
    assert refused, f"compose starts without {missing}"


def test_without_a_secret_the_settings_refuse_to_start() -> None:
    env = _environment("cadence-1", _operator_values())
    with pytest.raises(SettingsError):
        Settings.from_env({k: v for k, v in env.items() if k != "CADENCE_SECRET"})


def test_start_order_waits_on_health() -> None:
    for name, service in SERVICES.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in SERVICES, (name, target)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[target], (name, target)
    for replica in REPLICAS:
        assert "healthcheck" in SERVICES[replica]
        needs = SERVICES[replica]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["ray-head"]["condition"] == "service_healthy"
        assert needs["redis"]["condition"] == "service_healthy"
        assert needs["minio-bucket"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert set(SERVICES["haproxy"]["depends_on"]) == set(REPLICAS)


def _pip_commands(lines: list[str]) -> list[str]:
    """`pip install ...` commands, with the Makefile's `$(BIN)/` and shell joins stripped."""
    found = []
    for line in lines:
        for part in re.split(r"&&|\\\n", line):
            part = part.strip().removeprefix("RUN ").strip().replace("$(BIN)/", "")
            if part.startswith("pip install"):
                found.append(" ".join(part.split()))
    return found


def test_the_image_installs_as_make_does() -> None:
    makefile = (ROOT / "Makefile").read_text().splitlines()
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    assert _pip_commands(dockerfile) == _pip_commands(makefile)
    assert _pip_commands(makefile)  # the Makefile still installs with pip
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    text = "\n".join(dockerfile)
    for package in packages:
        assert f"COPY {package.rstrip('*')} " in text, package
    python = re.search(r"^FROM python:(\d+\.\d+)", text, re.MULTILINE)
    assert python is not None
    assert f">={python.group(1)}" in project["project"]["requires-python"]
