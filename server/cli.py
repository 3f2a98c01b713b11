"""`cadence` — the operator CLI of PROTOCOL.md: serve, migrate, seed demo, token (and bench)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import orjson

from server.settings import LOCAL_ENVIRONMENTS, Settings, SettingsError, environment_of

if TYPE_CHECKING:
    from storage.db import Database
    from storage.sealed import Rotation


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"cadence: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


def _months(text: str) -> int:
    if not text.isdigit() or int(text) > 120:
        raise argparse.ArgumentTypeError(f"months must be 0..120, got {text!r}")
    return int(text)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvloop
    from aiohttp import web

    from actors import tune_gc
    from server import logs
    from server.app import create_app
    from storage.blobs import BlobStoreConfigError

    settings = _settings()
    logs.configure(settings.log_level)
    host, port = args.host or settings.host, args.port or settings.port
    app = create_app(settings)

    async def announce(_: web.Application) -> None:
        base = f"http://{host}:{port}"
        print(
            f"Cadence is up: {base}/health/ready  API docs {base}/docs  "
            f"OpenAPI {base}/v1/openapi.json  WebSocket ws://{host}:{port}/v1/ws",
            file=sys.stderr,
            flush=True,
        )

    async def settle_heap(_: web.Application) -> None:
        # What start-up built (modules, Ray's client, pools, the app) lives as long as the
        # process: frozen out of the cyclic collector's scans, which otherwise walk all of it on
        # every older-generation collection, a pause every request behind it waits out. Young
        # collections run less often, as in the actors (under the holds load the defaults cost
        # 3-6 ms pauses several times a second and a 14-18 ms full pass every 7 s).
        tune_gc()

    app.on_startup.append(settle_heap)
    app.on_startup.append(announce)
    # aiohttp turns SIGTERM/SIGINT into a graceful exit: stop accepting, run on_shutdown
    # (WebSockets close with 1001, buffers flush), then the cleanup contexts. uvloop's event
    # loop (libuv) does the socket work of every request and frame in C.
    try:
        web.run_app(
            app, host=host, port=port, print=None, shutdown_timeout=10, access_log=None,
            loop=uvloop.new_event_loop(),
        )  # fmt: skip
    except BlobStoreConfigError as exc:  # a missing bucket: one line, not a traceback
        print(f"cadence: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_consume(args: argparse.Namespace) -> int:
    import asyncpg
    import uvloop
    from redis.exceptions import RedisError

    from actors import lower_priority
    from server import logs
    from server.consumers import run_worker

    settings = _settings()
    if args.name:
        settings = dataclasses.replace(settings, consumer_name=args.name)
    logs.configure(settings.log_level)
    # Consumers are bulk work (webhooks, mail, projections): the API servers on the same host
    # go first when the CPU is short.
    lower_priority(settings.bulk_niceness)
    try:
        uvloop.run(run_worker(settings))
    except (OSError, asyncpg.PostgresError, RedisError) as exc:
        # One line for the operator (no traceback): which service, and what it said.
        print(f"cadence: the consumers cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from migrations.runner import migrate_sync

    settings = _settings()
    migrate_sync(
        settings.database_url, settings.app_db_password, set_password=args.set_app_password
    )
    print("cadence: migrations applied", file=sys.stderr)
    # The data step of the privacy migration: values stored before field encryption (tagged
    # `p0:`) are sealed now; a no-op once every value is under the active key.
    sealed = asyncio.run(_rotate_keys(settings, 500))
    if any(sealed.rewritten.values()):
        print(f"cadence: sealed {sum(sealed.rewritten.values())} stored rows", file=sys.stderr)
    return 0


async def _rotate_keys(settings: Settings, batch: int) -> Rotation:
    from storage.db import create_pool
    from storage.sealed import rotate

    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        return await rotate(pool, settings.data_keys, batch=batch)
    finally:
        await pool.close()


def cmd_keys(args: argparse.Namespace) -> int:
    """`cadence keys rotate`: re-encrypt every sealed value under the active data key, in
    batches, while the servers keep serving (they open values of any key they know). Deploy the
    new key to every server first (listed, not yet active), then make it active and rotate;
    drop the old key only after this ran."""
    settings = _settings()
    done = asyncio.run(_rotate_keys(settings, args.batch))
    report = {
        "active": settings.data_keys.active,
        "rewritten": done.rewritten,
        "unreadable": done.unreadable,
    }
    sys.stdout.write(orjson.dumps(report).decode() + "\n")
    if any(done.unreadable.values()):
        print("cadence: some rows could not be opened and were left as they are", file=sys.stderr)
        return 1
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from server.identity.seed import NotADemoLogin, reset_demo_password
    from server.seed import seed_demo
    from storage.db import Database, with_credentials

    # Checked before anything else: demo logins on a real deployment are a way in for anyone.
    declared = environment_of(os.environ)
    if declared is not None and declared not in LOCAL_ENVIRONMENTS:
        print(
            f"cadence: refusing to seed demo data with CADENCE_ENV={declared.value} "
            "(only development or test)",
            file=sys.stderr,
        )
        return 2
    settings = _settings()

    async def run() -> dict[str, object]:
        app_dsn = with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
        db = await Database.connect(settings.database_url, app_dsn, app_size=2, platform_size=2)
        try:
            if args.reset_password:
                async with db.platform() as conn:
                    password = await reset_demo_password(conn, args.reset_password)
                return {"email": args.reset_password, "password": password}
            result = await seed_demo(db, once=args.once, keys=settings.data_keys)
            if not result.get("existing"):
                await _render_demo_report(settings, db, result)
            return result
        finally:
            await db.close()

    try:
        result = asyncio.run(run())
    except NotADemoLogin:
        print(f"cadence: {args.reset_password!r} is no demo login", file=sys.stderr)
        return 2
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    users: list[dict[str, str]] = result.get("users") or []  # type: ignore[assignment]
    if result.get("existing"):
        # Its passwords were shown once, when it was made; they are not kept anywhere.
        print(
            "cadence: the demo clinic already exists; for a new password of one of its logins "
            "run: cadence seed demo --reset-password EMAIL",
            file=sys.stderr,
        )
    elif args.once:
        for user in users:
            print(
                f"demo login: {user['email']} / {user['password']} ({user['role']})",
                file=sys.stderr,
            )
    return 0


async def _render_demo_report(settings: Settings, db: Database, result: dict[str, Any]) -> None:
    """A new demo opens with its session report already rendered and stored (its id and digest
    added to `result`). The demo is committed by then: should rendering fail, it is said in one
    line and the report renders on its first request instead."""
    from server.records.demo_documents import render_demo_report
    from storage.blobs import BlobStoreConfigError
    from storage.errors import DomainError

    try:
        report = await render_demo_report(settings, db, result)
    except (DomainError, BlobStoreConfigError, OSError) as exc:
        print(
            f"cadence: the demo's session report was not rendered ({exc}); "
            "it is rendered when first asked for",
            file=sys.stderr,
        )
        return
    if report is not None:
        result["session_report"] = report


def cmd_token(args: argparse.Namespace) -> int:
    from server import tokens
    from storage.types import Role

    settings = _settings()
    token = tokens.issue(
        settings.secret,
        role=Role(args.role),
        org_id=args.org,
        user_id=args.user,
        patient_id=args.patient,
        specialist_id=args.specialist,
        ttl_s=args.ttl,
    )
    print(token)
    return 0


def cmd_partitions(args: argparse.Namespace) -> int:
    """Create the monthly partitions of every range-partitioned table, `--months` ahead.

    Tables are found in pg_partitioned_table, so tables added later are covered without
    changing this command. Run it monthly (cron); it is idempotent."""
    import asyncpg

    from storage.partitions import ensure_partitions

    settings = _settings()

    async def run() -> dict[str, int]:
        conn = await asyncpg.connect(settings.database_url, timeout=10)
        try:
            return await ensure_partitions(conn, args.months)
        finally:
            await conn.close()

    made = asyncio.run(run())
    sys.stdout.write(orjson.dumps({"created": made}).decode() + "\n")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    # The bench suite registers itself as a command (pyproject's "cadence.commands"): the
    # product knows its name only, never its code.
    found = entry_points(group="cadence.commands", name="bench")
    if not found:
        print("cadence bench: the bench suite is not installed here", file=sys.stderr)
        return 2
    run: Callable[[list[str]], int] = next(iter(found)).load()
    return run(args.rest)


def parser() -> argparse.ArgumentParser:
    from storage.types import Role

    p = argparse.ArgumentParser(prog="cadence", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the REST + WebSocket server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(fn=cmd_serve)

    consume = sub.add_parser(
        "consume", help="run the event consumers (webhooks, notifications, ...) as a worker"
    )
    consume.add_argument(
        "--name", default="", help="this worker's stable name in the consumer groups"
    )
    consume.set_defaults(fn=cmd_consume)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument(
        "--set-app-password",
        action="store_true",
        help="also set the cadence_app role's password to CADENCE_DB_APP_PASSWORD "
        "(otherwise it is set only when the role is created)",
    )
    migrate.set_defaults(fn=cmd_migrate)

    seed = sub.add_parser("seed", help="create demo data")
    seed.add_argument("what", choices=["demo"])
    seed.add_argument(
        "--once", action="store_true", help="seed only if this database has no demo clinic yet"
    )
    seed.add_argument(
        "--reset-password",
        metavar="EMAIL",
        help="give this demo login a new random password and print it (nothing is seeded)",
    )
    seed.set_defaults(fn=cmd_seed)

    token = sub.add_parser("token", help="print a signed access token")
    token.add_argument("--org", type=_uuid)
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--user", type=_uuid)
    token.add_argument("--patient", type=_uuid)
    token.add_argument("--specialist", type=_uuid)
    token.add_argument("--ttl", type=int, default=900)
    token.set_defaults(fn=cmd_token)

    partitions = sub.add_parser(
        "partitions", help="create monthly partitions ahead (audit log and other event tables)"
    )
    partitions.add_argument(
        "--months", type=_months, default=3, help="months ahead, 0..120 (default 3)"
    )
    partitions.set_defaults(fn=cmd_partitions)

    keys = sub.add_parser("keys", help="field encryption keys")
    keys.add_argument("what", choices=["rotate"])
    keys.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")
    keys.set_defaults(fn=cmd_keys)

    bench = sub.add_parser("bench", help="run bench scenarios (see bench/README)", add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(fn=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args, unknown = p.parse_known_args(argv)
    if args.command == "bench":  # a leading option (`bench --help`) is left out of REMAINDER
        args.rest = [*unknown, *args.rest]
    elif unknown:
        p.error("unrecognized arguments: " + " ".join(unknown))
    if args.command == "token" and args.role != "superadmin" and args.org is None:
        print("cadence: --org is required for every role but superadmin", file=sys.stderr)
        return 2
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
