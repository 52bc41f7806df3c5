"""`sovetnik users add`: console accounts."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from bots.cli.common import fail, state, store_failure
from store.errors import StoreError

app = typer.Typer(no_args_is_help=True, help="Console accounts.")


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option("--role", help="manager | admin")] = "manager",
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from standard input.")] = False,
) -> None:
    """Create a console account (the password is asked for, never passed as an argument)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Пароль", hide_input=True, confirmation_prompt=True)
    try:
        asyncio.run(_add(state(ctx).settings.store.url.get_secret_value(), name, role, password))
    except StoreError as exc:
        raise store_failure(exc) from None
    except ValueError as exc:
        raise fail(f"Не создан: {exc}") from None
    typer.echo(f"Создан пользователь {name} ({role}).")


async def _add(url: str, name: str, role: str, password: str) -> None:
    from bots.web.auth import create_user
    from store.db import Database

    db = Database.from_url(url)
    try:
        await db.migrate()
        await create_user(db, name, role, password)
    finally:
        await db.dispose()
