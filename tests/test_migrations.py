"""The migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storage.db import Database
from storage.models import Base


async def test_migrated_schema_matches_models(db: Database) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as connection:
        differences = await connection.run_sync(diff)
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert differences == [], "models changed without a migration: run `make migration`"
    assert set(Base.metadata.tables) <= tables
