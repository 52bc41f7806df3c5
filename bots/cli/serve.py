"""`sovetnik serve`: the web app and every enabled channel in one process."""

from __future__ import annotations

import asyncio

import typer

from bots.cli.common import fail, state, store_failure
from bots.config import RedisSettings
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
        asyncio.run(_check_redis(settings.redis))
    except RoleError as exc:
        raise fail(f"Ошибка в ролях: {exc}") from None
    except StoreError as exc:
        raise store_failure(exc) from None
    except RedisUnreachable as exc:
        raise fail(f"Ошибка Redis (redis.url): сервер недоступен ({exc}). Запустите Redis или исправьте "
                   "redis.url — или выберите local в scale.lock, scale.events и scale.rate_limits.") from None
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


class RedisUnreachable(Exception):
    """The configured Redis did not answer before the server started."""


async def _check_redis(settings: RedisSettings) -> None:
    """Ping the shared Redis, if one is configured, with a client of this check's own.

    A client's connections belong to the event loop that opened them; the
    server's loop gets the runtime's client untouched.
    """
    from bots.scale import redis_client

    client = redis_client(settings)
    if client is None:
        return
    from redis.exceptions import RedisError

    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise RedisUnreachable(type(exc).__name__) from None
    finally:
        await client.aclose()
