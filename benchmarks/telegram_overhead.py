"""Per-update overhead of the product's Telegram path against a bare aiogram echo bot.

Both bots poll their own loopback fake Bot API (`tests/fakes/telegram_server.py`)
in this process. For each update the time is taken from the push to the
reply being recorded by the fake:

- product: fake → polling → inbox (SQLite commit) → engine → agent (offline
  answerer; «Спасибо!» gets a fixed reply, no retrieval) → outbox (SQLite) →
  rate-limited sendMessage;
- bare: aiogram `Dispatcher.start_polling` → echo handler → sendMessage.

Updates are sent one at a time, each from a new chat, so the per-chat limit
of one message a second is not what is measured (the 30/s global limit is
below the measured latencies). The two bots take turns in rounds, so a noisy
machine affects both alike. For the product the time is split at the
fake's arrival of `sendChatAction` (sent when the engine starts the turn) and
of `sendMessage`.

    .venv/bin/python benchmarks/telegram_overhead.py [--n 200] [--rounds 4] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from _common import ROOT, machine, percentiles

sys.path.insert(0, str(ROOT))  # the fake servers live under tests/

from aiogram import Bot, Dispatcher, Router  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.types import Message  # noqa: E402

from bots.config import Settings  # noqa: E402
from bots.runtime import Runtime  # noqa: E402
from tests.fakes.telegram_server import FakeBotAPI  # noqa: E402

TEXT = "Спасибо!"
WAIT_S = 30.0
FIRST_CHAT = 100_000


class StampedBotAPI(FakeBotAPI):
    """The fake, noting when `sendChatAction` and `sendMessage` calls arrive."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: dict[str, list[float]] = defaultdict(list)

    async def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self.stamps["typing"].append(time.perf_counter())
        return await super()._send_chat_action(params)

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        self.stamps["send"].append(time.perf_counter())
        return await super()._send_message(params)


@asynccontextmanager
async def product(tg: FakeBotAPI, folder: Path) -> AsyncIterator[None]:
    """The product (polling, offline answerer, SQLite) against `tg`."""
    settings = Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{folder / 'bench.db'}"},
        "knowledge": {"index_dir": str(folder / "empty-index")},
        "voice": {"model": str(folder / "no-speech-model"), "audio_dir": str(folder / "voice")},
        "channels": {"telegram": {"enabled": True, "token": tg.token, "api_url": tg.base_url},
                     "webchat": {"enabled": False}},
        "base_dir": ROOT,
    })
    runtime = Runtime.build(settings)
    await runtime.start()
    try:
        yield
    finally:
        await runtime.stop()


@asynccontextmanager
async def bare_echo(tg: FakeBotAPI) -> AsyncIterator[None]:
    """The smallest aiogram bot: start_polling and an echo handler."""
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dp = Dispatcher()
    dp.include_router(router)
    bot = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    try:
        await tg.wait_calls("getUpdates", timeout=WAIT_S)
        yield
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(task, WAIT_S)
        await bot.session.close()


class Runner:
    """Pushes updates to one bot, one at a time, and times each reply."""

    def __init__(self, tg: FakeBotAPI, first_chat: int) -> None:
        self.tg = tg
        self.chat = first_chat
        self.samples_ms: list[float] = []
        self.typing_ms: list[float] = []

    async def one(self, record: bool = True) -> None:
        self.chat += 1
        n = len(self.tg.sent) + 1
        start = time.perf_counter()
        self.tg.push_text(self.chat, TEXT)
        await self.tg.wait_sent(n, timeout=WAIT_S)
        end = time.perf_counter()
        if record:
            self.samples_ms.append((end - start) * 1000)
            stamps = getattr(self.tg, "stamps", {})
            if stamps.get("typing"):
                self.typing_ms.append((stamps["typing"][-1] - start) * 1000)

    async def run(self, count: int, record: bool = True) -> None:
        for _ in range(count):
            await self.one(record)


def summary(name: str, samples: list[float]) -> str:
    p50, p95 = percentiles(samples)
    return f"{name:<8} mean {statistics.fmean(samples):7.2f} ms   p50 {p50:7.2f} ms   p95 {p95:7.2f} ms"


async def measure(n: int, rounds: int, warmup: int,
                  profile: cProfile.Profile | None) -> tuple[Runner, Runner]:
    with tempfile.TemporaryDirectory(prefix="tg-bench-") as tmp:
        async with StampedBotAPI() as tg_product, StampedBotAPI() as tg_bare:
            async with product(tg_product, Path(tmp)), bare_echo(tg_bare):
                ours, bare = Runner(tg_product, FIRST_CHAT), Runner(tg_bare, FIRST_CHAT)
                await ours.run(warmup, record=False)  # lazy loads: lemmatizer, first queries
                await bare.run(warmup, record=False)
                per_round = max(1, n // rounds)
                steps: list[Callable[[], Awaitable[None]]] = []
                for _ in range(rounds):
                    steps += [lambda: ours.run(per_round), lambda: bare.run(per_round)]
                for step in steps:
                    if profile is not None and step is steps[0]:
                        profile.enable()
                    await step()
                    if profile is not None and step is steps[0]:
                        profile.disable()
    return ours, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="updates per bot (default 200)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed updates per bot first")
    parser.add_argument("--profile", action="store_true",
                        help="profile the product's first round and print where its time goes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    profile = cProfile.Profile() if args.profile else None
    ours, bare = asyncio.run(measure(args.n, args.rounds, args.warmup, profile))

    print(f"machine: {machine()}")
    print(f"{len(ours.samples_ms)} updates each, {args.rounds} alternating rounds, "
          f"push → reply recorded by the fake, one update at a time")
    print(summary("product", ours.samples_ms))
    print(summary("bare", bare.samples_ms))
    typing_p50 = statistics.median(ours.typing_ms)
    print(f"product split (p50): push → turn starts (sendChatAction) {typing_p50:.2f} ms, "
          f"→ reply sent {statistics.median(ours.samples_ms) - typing_p50:.2f} ms")
    ratio_mean = statistics.fmean(ours.samples_ms) / statistics.fmean(bare.samples_ms)
    ratio_p50 = statistics.median(ours.samples_ms) / statistics.median(bare.samples_ms)
    print(f"ratio product / bare: {ratio_mean:.2f}× (means), {ratio_p50:.2f}× (medians); target ≤ 1.5×")
    if profile is not None:
        print("\nproduct, first round, by cumulative time:")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
