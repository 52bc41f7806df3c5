"""`scale.lock` picks the dialog lock; a choice its servers cannot back stops start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.config import ConfigError, Settings, load_settings
from bots.locks import LocalDialogLock, build_dialog_lock
from bots.locks.postgres import PostgresDialogLock
from bots.locks.redis import RedisDialogLock
from bots.scale import redis_client
from store import Database

PG = "postgresql+asyncpg://bank@127.0.0.1:5432/bank"


def _settings(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


async def test_the_embedded_default_needs_no_server(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "")
    assert settings.scale.lock == "local" and settings.redis.url is None
    assert redis_client(settings.redis) is None
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    try:
        assert isinstance(build_dialog_lock(settings, db), LocalDialogLock)
    finally:
        await db.dispose()


async def test_postgres_and_redis_locks_are_built_from_settings(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f'store: {{url: "{PG}"}}\nscale: {{lock: postgres}}\n')
    db = Database.from_url(PG)  # nothing connects until a lock is taken
    try:
        assert isinstance(build_dialog_lock(settings, db), PostgresDialogLock)
        settings = _settings(tmp_path, "redis: {url: 'redis://127.0.0.1:1/0', prefix: bank1}\n"
                                       "scale: {lock: redis}\n")
        client = redis_client(settings.redis)
        assert client is not None
        assert isinstance(build_dialog_lock(settings, db, client), RedisDialogLock)
        await client.aclose()
    finally:
        await db.dispose()


@pytest.mark.parametrize(("text", "key"), [
    ("scale: {lock: redis}\n", "scale.lock"),
    ("scale: {events: redis}\n", "scale.events"),
    ("scale: {rate_limits: redis}\n", "scale.rate_limits"),
    ("scale: {lock: postgres}\n", "scale.lock"),
    ("scale: {events: postgres}\n", "scale.events"),
    ("scale: {lock: zookeeper}\n", "scale.lock"),
    ("redis: {url: 'redis://h:6379', prefix: 'has space'}\n", "redis.prefix"),
])
def test_a_lock_without_its_server_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, text)
    assert caught.value.key == key
    assert "(верхний уровень)" not in str(caught.value)
