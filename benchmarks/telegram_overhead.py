"""Per-update overhead of the product's Telegram path against two aiogram reference bots.

Each bot polls its own loopback fake Bot API (`tests/fakes/telegram_server.py`)
in this process. For each update the time is taken from the push to the
reply being recorded by the fake:

- product: fake → polling → inbox (SQLite commit) → engine → agent (offline
  answerer; «Спасибо!» gets a fixed reply, no retrieval) → outbox (SQLite) →
  rate-limited sendMessage;
- durable ref: aiogram `Dispatcher.start_polling` → a handler that commits the
  update and its reply to a SQLite file through SQLAlchemy (aiosqlite, WAL,
  synchronous=NORMAL, as the product) → sendMessage: the honest floor of
  durability, and the reference of the ≤ 3× target;
- bare echo: aiogram `start_polling` → echo handler → sendMessage, storing nothing.

Updates are sent one at a time, each from a new chat, so the per-chat limit
of one message a second is not what is measured (the global limit spaces
sends 33 ms apart, less than one update takes). The bots take turns in rounds,
so a noisy machine affects all alike. For the product the time is split at the
fake's arrival of `sendChatAction` (sent when the engine starts the turn) and
of `sendMessage`.

    .venv/bin/python benchmarks/telegram_overhead.py [--n 200] [--rounds 4] [--stages] [--profile]
                                                     [--db-dir /dev/shm]

`--stages` runs one more product round with its stages timed (store
transactions, the agent turn, the sends), to show where the time goes.
`--db-dir /dev/shm` puts the SQLite files on tmpfs, which takes the disk
syncs of their commits out of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import inspect
import logging
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from _common import ROOT, machine, percentiles

sys.path.insert(0, str(ROOT))  # the fake servers live under tests/

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, Update
from sqlalchemy import BigInteger, String, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agents.agent import Agent
from agents.sentiment import SentimentClassifier
from bots.channels.telegram import TelegramChannel
from bots.config import Settings
from bots.engine import ConversationEngine
from bots.outbox import OutboxDispatcher
from bots.runtime import Runtime
from store.db import Database
from tests.fakes.telegram_server import FakeBotAPI

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
        "agents": {"roles_dir": str(ROOT / "agents" / "roles")},
        "channels": {"telegram": {"enabled": True, "token": tg.token, "api_url": tg.base_url},
                     "webchat": {"enabled": False}},
        "base_dir": folder,
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

    async with _polling(tg, router):
        yield


class RefBase(DeclarativeBase):
    """Tables of the durable reference bot."""


class RefUpdate(RefBase):
    """An update as received (its id unique, so a repeated delivery cannot be stored twice)."""

    __tablename__ = "updates"
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(String)


class RefReply(RefBase):
    """The reply to an update, stored before it is sent."""

    __tablename__ = "replies"
    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(String)


def _ref_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The product's SQLite settings (store/db.py): WAL, and synchronous=NORMAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def _ref_engine(path: Path) -> AsyncEngine:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    event.listen(engine.sync_engine, "connect", _ref_pragmas)
    async with engine.begin() as connection:
        await connection.run_sync(RefBase.metadata.create_all)
    return engine


@asynccontextmanager
async def durable_echo(tg: FakeBotAPI, folder: Path) -> AsyncIterator[None]:
    """An aiogram bot that commits each update and its reply to SQLite before answering.

    The honest floor of durability for one process: one SQLAlchemy transaction
    (aiosqlite, the product's journal settings) per update, then sendMessage.
    """
    engine = await _ref_engine(folder / "durable-ref.db")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    router = Router()

    @router.message()
    async def echo(message: Message, event_update: Update) -> None:
        reply = message.text or ""
        async with sessions.begin() as session:
            session.add(RefUpdate(update_id=event_update.update_id, chat_id=message.chat.id,
                                  text=message.text or ""))
            session.add(RefReply(update_id=event_update.update_id, text=reply))
        await message.answer(reply)

    try:
        async with _polling(tg, router):
            yield
    finally:
        await engine.dispose()


@asynccontextmanager
async def _polling(tg: FakeBotAPI, router: Router) -> AsyncIterator[None]:
    """aiogram's own `start_polling` of `router` against `tg`, while the block runs."""
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


STAGES = [
    (ConversationEngine, "accept", "inbox: store the update (before it is acknowledged)"),
    (ConversationEngine, "_start", "engine: count the attempt, load or create the dialog and history"),
    (Agent, "respond", "agent turn (fixed reply, offline)"),
    (SentimentClassifier, "classify", "  of which the mood of the message (an e5 embedding, a thread)"),
    (ConversationEngine, "_commit_reply", "engine: commit reply, state and outbox item"),
    (TelegramChannel, "send_typing", "sendChatAction round trip"),
    (TelegramChannel, "send", "sendMessage round trip (after the rate limiter)"),
    (OutboxDispatcher, "_deliver", "outbox: claim, send, mark sent"),
    (OutboxDispatcher, "deliver_due", "outbox: a round that looks for due items"),
]


@contextlib.contextmanager
def stage_timers() -> Any:
    """Time the product's stages and store transactions while the block runs."""
    times: dict[str, list[float]] = defaultdict(list)
    saved: list[tuple[Any, str, Any]] = []

    def timed_method(cls: Any, name: str) -> None:
        original = getattr(cls, name)

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                times[name].append((time.perf_counter() - start) * 1000)

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                times[name].append((time.perf_counter() - start) * 1000)

        saved.append((cls, name, original))
        setattr(cls, name, wrapper if inspect.iscoroutinefunction(original) else sync_wrapper)

    for cls, name, _ in STAGES:
        timed_method(cls, name)
    transaction = Database.transaction

    @contextlib.asynccontextmanager
    async def timed_transaction(self: Database) -> AsyncIterator[Any]:
        start = time.perf_counter()
        async with transaction(self) as session:
            yield session
        times["transaction"].append((time.perf_counter() - start) * 1000)

    saved.append((Database, "transaction", transaction))
    Database.transaction = timed_transaction  # type: ignore[method-assign]
    try:
        yield times
    finally:
        for cls, name, original in saved:
            setattr(cls, name, original)


def print_stages(times: dict[str, list[float]], updates: int) -> None:
    print(f"\nproduct stages over {updates} more updates (ms per update; stages overlap):")
    for _, name, what in STAGES:
        calls = times.get(name, [])
        print(f"  {sum(calls) / updates:7.2f}  {what} ({len(calls) / updates:.1f} per update)")
    tx = times.get("transaction") or [0.0]
    print(f"  {sum(tx) / updates:7.2f}  all store transactions: {len(tx) / updates:.1f} per update, "
          f"p50 {statistics.median(tx):.2f} ms each")


def summary(name: str, samples: list[float]) -> str:
    p50, p95 = percentiles(samples)
    return f"{name:<12} mean {statistics.fmean(samples):7.2f} ms   p50 {p50:7.2f} ms   p95 {p95:7.2f} ms"


def ratio(ours: list[float], ref: list[float]) -> str:
    return (f"{statistics.fmean(ours) / statistics.fmean(ref):.2f}× (means), "
            f"{statistics.median(ours) / statistics.median(ref):.2f}× (medians)")


async def measure(n: int, rounds: int, warmup: int, profile: cProfile.Profile | None,
                  stages: dict[str, list[float]] | None, db_dir: Path | None) -> dict[str, Runner]:
    """The three bots side by side, in alternating rounds; their runners by name."""
    with tempfile.TemporaryDirectory(prefix="tg-bench-", dir=db_dir) as tmp:
        folder = Path(tmp)
        async with (StampedBotAPI() as tg_product, StampedBotAPI() as tg_durable,
                    StampedBotAPI() as tg_bare, product(tg_product, folder),
                    durable_echo(tg_durable, folder), bare_echo(tg_bare)):
            runners = {"product": Runner(tg_product, FIRST_CHAT),
                       "durable ref": Runner(tg_durable, FIRST_CHAT),
                       "bare echo": Runner(tg_bare, FIRST_CHAT)}
            for runner in runners.values():  # lazy loads: lemmatizer, first queries
                await runner.run(warmup, record=False)
            per_round = max(1, n // rounds)
            for _ in range(rounds):
                for name, runner in runners.items():
                    profiled = profile is not None and name == "product"
                    if profiled:
                        profile.enable()  # type: ignore[union-attr]
                    await runner.run(per_round)
                    if profiled:
                        profile.disable()  # type: ignore[union-attr]
        if stages is not None:  # a fresh product built with its stages timed
            with stage_timers() as times:
                async with StampedBotAPI() as tg, product(tg, folder / "stages"):
                    timed = Runner(tg, FIRST_CHAT)
                    await timed.run(warmup, record=False)
                    times.clear()
                    await timed.run(per_round)
            stages.update(times)
    return runners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="updates per bot (default 200)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed updates per bot first")
    parser.add_argument("--stages", action="store_true",
                        help="time the product's stages in one more round")
    parser.add_argument("--db-dir", type=Path, help="folder for the SQLite files")
    parser.add_argument("--profile", action="store_true",
                        help="profile the product's rounds and print where its time goes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    profile = cProfile.Profile() if args.profile else None
    stages: dict[str, list[float]] | None = {} if args.stages else None
    runners = asyncio.run(measure(args.n, args.rounds, args.warmup, profile, stages, args.db_dir))
    ours, durable, bare = runners["product"], runners["durable ref"], runners["bare echo"]

    print(f"machine: {machine()}")
    print(f"SQLite files under {args.db_dir or tempfile.gettempdir()}")
    print(f"{len(ours.samples_ms)} updates each, {args.rounds} alternating rounds, "
          f"push → reply recorded by the fake, one update at a time")
    for name, runner in runners.items():
        print(summary(name, runner.samples_ms))
    typing_p50 = statistics.median(ours.typing_ms)
    print(f"product split (p50): push → turn starts (sendChatAction) {typing_p50:.2f} ms, "
          f"→ reply sent {statistics.median(ours.samples_ms) - typing_p50:.2f} ms")
    print(f"ratio product / durable ref: {ratio(ours.samples_ms, durable.samples_ms)}; target ≤ 3×")
    print(f"ratio product / bare echo: {ratio(ours.samples_ms, bare.samples_ms)}")
    if stages is not None:
        print_stages(stages, max(1, args.n // args.rounds))
    if profile is not None:
        print("\nproduct, its rounds, by cumulative time:")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
