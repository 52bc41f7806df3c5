"""Shared pieces of the command line: lazily loaded settings, JSONL input, output."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import typer

from bots.config import Settings, config_path, load_settings
from store.db import Database
from store.errors import StoreError

T = TypeVar("T")


@dataclass
class CliState:
    """Per-invocation state: the `--config` option and the settings once loaded."""

    config: Path | None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """Settings, loaded on first use; an explicit `--config` must exist."""
        if self._settings is None:
            explicit = self.config is not None
            self._settings = load_settings(config_path(self.config), required=explicit)
        return self._settings


def state(ctx: typer.Context) -> CliState:
    """The `CliState` of this invocation."""
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a clear error to stderr and return the exit to raise."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def store_failure(exc: Exception) -> typer.Exit:
    """The one-line message for a store that cannot be used (bad URL, unreachable, no folder)."""
    reason = " ".join(str(exc).split())
    return fail(f"Ошибка хранилища (store.url): {reason}. Проверьте store.url в настройках: адрес, "
                "пароль, доступность сервера базы данных или папки файла SQLite.")


def with_db(ctx: typer.Context, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` against the configured (and migrated) store; store errors end the command."""
    url = state(ctx).settings.store.url.get_secret_value()

    async def main() -> T:
        db = Database.from_url(url)
        try:
            await db.migrate()
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except StoreError as exc:
        raise store_failure(exc) from None


def read_jsonl(path: Path, required: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Objects of a JSONL file; a bad line stops with its number and what is wrong."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{path}: не удалось прочитать файл: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise fail(f"{path}:{number}: строка не является JSON: {exc.msg}") from None
        if not isinstance(obj, dict) or any(k not in obj for k in required):
            raise fail(f"{path}:{number}: нужны поля {', '.join(required)}") from None
        yield obj


def print_json(obj: Any) -> None:
    """One JSON object per line, Cyrillic kept readable."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
