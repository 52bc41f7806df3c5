"""`channels.telegram.sends_per_s`: the bot's overall send rate (Telegram's free limit by default)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bots.channels.base import ChannelContext
from bots.channels.telegram import TelegramChannel, build
from bots.config import ConfigError, Settings, load_settings
from tests.fakes.telegram_server import DEFAULT_TOKEN

SENDS = 50


def _channel(**telegram: object) -> TelegramChannel:
    settings = Settings.model_validate({"channels": {"telegram": {
        "enabled": True, "token": DEFAULT_TOKEN, **telegram}}})
    [channel] = build(ChannelContext(settings, None, None, None))  # type: ignore[arg-type]
    assert isinstance(channel, TelegramChannel)
    return channel


async def _seconds_for_sends_to_different_chats(channel: TelegramChannel) -> float:
    start = time.monotonic()
    for chat in range(SENDS):
        await channel.limiter.wait(str(chat))
    elapsed = time.monotonic() - start
    await channel.bot.session.close()
    return elapsed


async def test_by_default_a_bot_sends_thirty_messages_a_second() -> None:
    elapsed = await _seconds_for_sends_to_different_chats(_channel())
    assert elapsed >= (SENDS - 1) / 30 - 0.01


async def test_a_bot_with_paid_broadcasts_sends_faster() -> None:
    elapsed = await _seconds_for_sends_to_different_chats(_channel(sends_per_s=1000))
    assert (SENDS - 1) / 1000 - 0.01 <= elapsed < (SENDS - 1) / 30 - 0.01


@pytest.mark.parametrize("rate", [0, 1001])
def test_a_rate_outside_what_telegram_allows_is_refused(tmp_path: Path, rate: int) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"channels:\n  telegram: {{enabled: true, token: '{DEFAULT_TOKEN}', "
                      f"sends_per_s: {rate}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="sends_per_s"):
        load_settings(config)
