"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from store import Database
from store.models import metadata


def _differences(connection: Connection, target: sa.MetaData) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, target))


def _models_plus_a_column() -> sa.MetaData:
    changed = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["dialogs"].append_column(sa.Column("extra", sa.Integer()))
    return changed


async def test_migrated_schema_matches_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(_differences, metadata)
    assert differences == []


async def test_schema_comparison_does_notice_a_difference(database: Database) -> None:
    # Guards the test above against comparing nothing at all.
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(_differences, _models_plus_a_column())
    assert [diff[0] for diff in differences] == ["add_column"]
