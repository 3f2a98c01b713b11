from __future__ import annotations

import subprocess
import sys
import uuid

from server import tokens
from server.settings import DEV_SECRET
from storage.types import Role


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


BASE_ENV = {
    "PATH": "/usr/bin:/bin",
    "DATABASE_URL": "postgresql://u@h/db",
    "REDIS_URL": "redis://h",
    "CADENCE_ENV": "development",
}


def test_token_command_prints_a_verifiable_token() -> None:
    org, patient = uuid.uuid4(), uuid.uuid4()
    done = run_cli(
        "token", "--org", str(org), "--role", "patient", "--patient", str(patient), env=BASE_ENV
    )
    assert done.returncode == 0, done.stderr
    principal = tokens.verify(DEV_SECRET, done.stdout.strip())
    assert principal.org_id == org and principal.patient_id == patient
    assert principal.role is Role.PATIENT


def test_bad_setting_gives_one_clear_line_and_no_traceback() -> None:
    done = run_cli("token", "--role", "superadmin", env={**BASE_ENV, "CADENCE_ENV": "production"})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "CADENCE_SECRET" in lines[0]
    assert "Traceback" not in done.stderr


def test_without_a_declared_environment_nothing_is_defaulted() -> None:
    env = {k: v for k, v in BASE_ENV.items() if k != "CADENCE_ENV"}
    done = run_cli("token", "--role", "superadmin", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "CADENCE_SECRET" in lines[0] and "CADENCE_DB_APP_PASSWORD" in lines[0]


def test_seed_demo_refuses_in_production_before_touching_anything() -> None:
    strong = {"CADENCE_SECRET": "s" * 40, "CADENCE_DB_APP_PASSWORD": "p" * 40}
    for env in (
        {**BASE_ENV, **strong, "CADENCE_ENV": "production"},
        BASE_ENV | {"CADENCE_ENV": "production"},
    ):
        done = run_cli("seed", "demo", "--once", env=env)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "refusing" in lines[0] and "production" in lines[0]


def test_token_requires_an_organization_for_tenant_roles() -> None:
    done = run_cli("token", "--role", "admin", env=BASE_ENV)
    assert done.returncode == 2 and "--org" in done.stderr


def test_bench_help_lists_the_scenarios() -> None:
    for flag in ("--help", "-h"):
        done = run_cli("bench", flag, env=BASE_ENV)
        assert done.returncode == 0, done.stderr
        assert "usage: cadence bench" in done.stdout and "booking" in done.stdout


def test_an_unknown_option_is_refused_outside_the_bench() -> None:
    done = run_cli("serve", "--bogus", env=BASE_ENV)
    assert done.returncode == 2 and "--bogus" in done.stderr
