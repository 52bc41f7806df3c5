"""`sovetnik serve`: the web app and every enabled channel in one process."""

from __future__ import annotations

import typer

from bots.cli.common import fail, state


def serve_cmd(ctx: typer.Context) -> None:
    """Run the product: web app (health, metrics, webhooks) and channels."""
    import uvicorn

    from agents.errors import RoleError
    from bots.runtime import Runtime
    from bots.web.app import create_app

    settings = state(ctx).settings
    try:
        runtime = Runtime.build(settings)
    except RoleError as exc:
        raise fail(f"Ошибка в ролях: {exc}") from None
    app = create_app(runtime)
    host, port = settings.server.host, settings.server.port
    typer.echo(f"Sovetnik: http://{host}:{port}/healthz")
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="on")
