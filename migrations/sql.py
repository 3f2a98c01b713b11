"""Run raw SQL inside the migration's transaction. Frozen helper: migrations depend on it."""

from piccolo.engine import engine_finder

APP_ROLE = "cadence_app"


async def run_sql(sql: str) -> None:
    engine = engine_finder()
    assert engine is not None
    transaction = engine.current_transaction.get()
    if transaction is not None:
        await transaction.connection.execute(sql)
    else:
        await engine.run_ddl(sql)
