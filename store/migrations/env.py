"""Alembic environment for the store's schema.

``Database.migrate()`` hands Alembic an open connection through
``config.attributes["connection"]``; that is how the product migrates. The other
two paths serve developers running the ``alembic`` command with
``store/alembic.ini``: online against ``SOVETNIK_DATABASE_URL`` (or the ini's
URL), or offline (``--sql``) to print the DDL.
"""

from __future__ import annotations

import asyncio
import logging.config
import os

from alembic import context
from sqlalchemy.engine import Connection

from store.db import DEFAULT_URL, Database, parse_url
from store.models import metadata

config = context.config
if config.config_file_name:  # only the alembic command has an ini with logging set up
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    return os.environ.get("SOVETNIK_DATABASE_URL") or config.get_main_option(
        "sqlalchemy.url", DEFAULT_URL
    )


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=parse_url(_database_url()),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    database = Database.from_url(_database_url())
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(_run_on)
            await connection.commit()
    finally:
        await database.dispose()


if context.is_offline_mode():
    _run_offline()
elif (given := config.attributes.get("connection")) is not None:
    _run_on(given)
else:
    asyncio.run(_run_with_own_engine())
