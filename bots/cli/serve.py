"""`sovetnik serve`: the web app and every enabled channel in one process."""

from __future__ import annotations

import asyncio

import typer

from bots.cli.common import fail, state, store_failure
from store.db import Database
from store.errors import StoreError

WS_MAX_BYTES = 128 * 1024


def serve_cmd(ctx: typer.Context) -> None:
    """Run the product: web app (health, metrics, webhooks) and channels."""
    import uvicorn

    from agents.errors import RoleError
    from bots.runtime import Runtime
    from bots.web.app import create_app

    settings = state(ctx).settings
    try:
        runtime = Runtime.build(settings)
        asyncio.run(_check_store(runtime.db))
    except RoleError as exc:
        raise fail(f"Ошибка в ролях: {exc}") from None
    except StoreError as exc:
        raise store_failure(exc) from None
    app = create_app(runtime)
    host, port = settings.server.host, settings.server.port
    typer.echo(f"Sovetnik: http://{host}:{port}/healthz")
    # A web chat frame is at most a few dozen KB: a bigger one is refused before it is buffered.
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="on", ws_max_size=WS_MAX_BYTES)


async def _check_store(db: Database) -> None:
    """Migrate before the server starts, so an unusable store is one clear line, not a traceback.

    The pool is disposed again: the server's own event loop opens fresh connections.
    """
    try:
        await db.migrate()
    finally:
        await db.dispose()
