"""Root of the `sovetnik` command: global options and sub-command groups."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from bots.cli import agent, kb, leads, models, outbox, serve, users
from bots.cli.common import CliState, store_failure
from bots.config import ConfigError
from bots.logs import install_redaction
from store.errors import StoreError

app = typer.Typer(
    name="sovetnik", no_args_is_help=True, add_completion=False,
    help="Sovetnik: AI agents for a bank's customers in messengers.",
)
app.add_typer(kb.app, name="kb")
app.add_typer(leads.app, name="leads")
app.add_typer(outbox.app, name="outbox")
app.add_typer(models.app, name="models")
app.add_typer(users.app, name="users")
app.command("ask")(agent.ask_cmd)
app.command("chat")(agent.chat_cmd)
app.command("serve")(serve.serve_cmd)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="config.yaml (default: "
                      "$SOVETNIK_CONFIG or ./config.yaml)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    install_redaction()  # ids, never values, in every log line (--verbose too)
    ctx.obj = CliState(config)


def main() -> None:
    """Console-script entry point: configuration errors end with one clear message."""
    try:
        app()
    except ConfigError as exc:
        print(f"Ошибка настроек: {exc}", file=sys.stderr)
        sys.exit(2)
    except StoreError as exc:  # a command that met the store without its own handler
        code = store_failure(exc).exit_code
        sys.exit(code)
