"""`cadence` — the operator CLI of PROTOCOL.md: serve, migrate, seed demo, token (and bench)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence

import orjson

from server.settings import Settings, SettingsError


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

    from actors.base import tune_gc
    from server import logs
    from server.app import create_app

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
    web.run_app(
        app, host=host, port=port, print=None, shutdown_timeout=10, access_log=None,
        loop=uvloop.new_event_loop(),
    )  # fmt: skip
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from migrations.runner import migrate_sync

    settings = _settings()
    migrate_sync(settings.database_url, settings.app_db_password)
    print("cadence: migrations applied", file=sys.stderr)
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from server.seed import seed_demo
    from storage.db import Database, create_pool, with_credentials

    settings = _settings()

    async def run() -> dict[str, object]:
        app_dsn = with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
        db = Database(
            await create_pool(app_dsn, min_size=1, max_size=2),
            await create_pool(settings.database_url, min_size=1, max_size=2),
        )
        try:
            return await seed_demo(db, once=args.once)
        finally:
            await db.close()

    result = asyncio.run(run())
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    users: list[dict[str, str]] = result.get("users") or []  # type: ignore[assignment]
    if args.once:
        for user in users:
            print(
                f"demo login: {user['email']} / {user['password']} ({user['role']})",
                file=sys.stderr,
            )
    return 0


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

    settings = _settings()

    async def run() -> dict[str, int]:
        conn = await asyncpg.connect(settings.database_url, timeout=10)
        try:
            parents = await conn.fetch(
                """SELECT p.partrelid::regclass::text AS name
                   FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
                   WHERE p.partstrat = 'r' AND NOT c.relispartition
                   ORDER BY 1"""
            )
            made: dict[str, int] = {}
            for row in parents:
                made[row["name"]] = await conn.fetchval(
                    "SELECT ensure_monthly_partitions($1::regclass, $2)", row["name"], args.months
                )
            return made
        finally:
            await conn.close()

    made = asyncio.run(run())
    sys.stdout.write(orjson.dumps({"created": made}).decode() + "\n")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.runner import main as bench_main

    return bench_main(args.rest)


def parser() -> argparse.ArgumentParser:
    from storage.types import Role

    p = argparse.ArgumentParser(prog="cadence", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the REST + WebSocket server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(fn=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)

    seed = sub.add_parser("seed", help="create demo data")
    seed.add_argument("what", choices=["demo"])
    seed.add_argument(
        "--once", action="store_true", help="seed only if this database has no demo clinic yet"
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

    bench = sub.add_parser("bench", help="run bench scenarios (see bench/README)", add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(fn=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "token" and args.role != "superadmin" and args.org is None:
        print("cadence: --org is required for every role but superadmin", file=sys.stderr)
        return 2
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
