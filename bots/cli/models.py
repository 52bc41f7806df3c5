"""`sovetnik models`: prepare model files for an offline installation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bots.cli.common import fail, state

app = typer.Typer(no_args_is_help=True, help="Model files for offline use.")


@app.command("fetch")
def fetch_cmd(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Hub model name (default: embeddings.model).")]
    = None,
    target: Annotated[Path, typer.Option("--dir", help="Where to put the model folder.")]
    = Path("var/models"),
) -> None:
    """Download an embedding model once, where the network allows, into a local folder."""
    from huggingface_hub import snapshot_download

    model = name or state(ctx).settings.embeddings.model
    folder = target / model.replace("/", "--")
    try:
        snapshot_download(repo_id=model, local_dir=str(folder))
    except Exception as exc:  # any network or hub failure: say so plainly
        raise fail(f"Не удалось скачать {model}: {exc.__class__.__name__}: {exc}. "
                   "Скачайте модель на машине с доступом к сети и скопируйте папку.") from None
    typer.echo(f"Готово: {folder}\nУкажите в config.yaml: embeddings: {{model: \"{folder}\"}}")
