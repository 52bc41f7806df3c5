"""Per-update overhead of the product's VK and MAX paths against a bare echo loop.

No library is used for VK or MAX (see README, «Messengers»), so the bare side is
the thinnest bot on the same HTTP client: poll, then send the text back — no
inbox, no engine, no outbox. Both poll their own loopback fake
(`tests/fakes/vk_server.py`, `tests/fakes/max_server.py`) in this process; for
each update the time is taken from the push to the reply being recorded.
The product: poll → inbox (SQLite commit) → engine → agent (offline answerer;
«Спасибо!» gets a fixed reply) → outbox (SQLite) → paced send.

Updates go one at a time, each from a new chat; the two sides take turns in
rounds so a noisy machine affects both alike. MAX's poll is spaced at least
0.5 s apart (its 2 requests/s cap), so its figures include waiting for the
next poll on both sides.

    .venv/bin/python benchmarks/messenger_overhead.py [--messenger vk|max] [--n 50] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import ROOT, machine, percentiles

sys.path.insert(0, str(ROOT))  # the fake servers live under tests/

from bots.channels.max_api import MaxApi
from bots.channels.vk_api import VkApi
from bots.config import MaxSettings, Settings, VkSettings
from bots.runtime import Runtime
from tests.fakes.max_server import FakeMax
from tests.fakes.vk_server import FakeVK

TEXT = "Спасибо!"
WAIT_S = 30.0


def channel_settings(messenger: str, fake: Any) -> dict[str, Any]:
    if messenger == "vk":
        return {"enabled": True, "token": fake.token, "group_id": fake.group_id, "api_url": fake.base_url}
    return {"enabled": True, "token": fake.token, "api_url": fake.base_url}


@contextlib.asynccontextmanager
async def product(messenger: str, fake: Any, folder: Path) -> AsyncIterator[None]:
    settings = Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{folder / 'bench.db'}"},
        "knowledge": {"index_dir": str(folder / "empty-index")},
        "voice": {"model": str(folder / "no-speech-model"), "audio_dir": str(folder / "voice")},
        "agents": {"roles_dir": str(ROOT / "agents" / "roles")},
        "channels": {messenger: channel_settings(messenger, fake), "webchat": {"enabled": False}},
        "base_dir": folder,
    })
    runtime = Runtime.build(settings)
    await runtime.start()
    try:
        yield
    finally:
        await runtime.stop()


async def _vk_echo(fake: FakeVK, stop: asyncio.Event) -> None:
    api = VkApi(VkSettings(**channel_settings("vk", fake)))
    server = await api.call("groups.getLongPollServer", group_id=fake.group_id)
    ts = str(server["ts"])
    try:
        while not stop.is_set():
            answer = await api.long_poll(server["server"], server["key"], ts)
            for update in answer.get("updates", []):
                message = update["object"]["message"]
                await api.call("messages.send", peer_id=message["peer_id"], message=message["text"],
                               random_id=message["id"])
            ts = str(answer["ts"])
    finally:
        await api.close()


async def _max_echo(fake: FakeMax, stop: asyncio.Event) -> None:
    api = MaxApi(MaxSettings(**channel_settings("max", fake)))
    marker: int | None = None
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set():
            started = loop.time()
            answer = await api.updates(marker)
            for update in answer.get("updates", []):
                chat = update["message"]["recipient"]["chat_id"]
                await api.call("POST", "/messages", params={"chat_id": chat},
                               body={"text": update["message"]["body"]["text"]})
            marker = answer.get("marker", marker)
            await asyncio.sleep(max(0.0, 0.5 - (loop.time() - started)))  # the same 2 rps cap
    finally:
        await api.close()


@contextlib.asynccontextmanager
async def bare(messenger: str, fake: Any) -> AsyncIterator[None]:
    stop = asyncio.Event()
    loop_fn: Callable[[Any, asyncio.Event], Awaitable[None]] = _vk_echo if messenger == "vk" else _max_echo
    task = asyncio.create_task(loop_fn(fake, stop))
    await asyncio.sleep(0.3)
    try:
        yield
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def one_round(fake: Any, first_chat: int, n: int, sent: Callable[[int], int]) -> list[float]:
    samples = []
    for chat in range(first_chat, first_chat + n):
        start = time.perf_counter()
        fake.push_text(chat, TEXT)
        async with asyncio.timeout(WAIT_S):
            while sent(chat) < 1:
                await asyncio.sleep(0.0005)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def main(messenger: str, n: int, rounds: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    results: dict[str, list[float]] = {"product": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for side in ("product", "bare"):
                fake = FakeVK() if messenger == "vk" else FakeMax()
                async with fake:
                    ctx = product(messenger, fake, Path(tmp) / f"{side}{r}") if side == "product" \
                        else bare(messenger, fake)
                    async with ctx:
                        if messenger == "vk":
                            await fake.wait_calls("groups.getLongPollServer", timeout=WAIT_S)
                        await one_round(fake, 10_000, 3, lambda c, f=fake: len(f.sent_to(c)))  # warm-up
                        results[side] += await one_round(fake, 20_000, n,
                                                         lambda c, f=fake: len(f.sent_to(c)))
    print(f"{messenger}: {n} updates × {rounds} rounds; {machine()}")
    for side, samples in results.items():
        p50, p95 = percentiles(samples)
        print(f"  {side:8} mean {statistics.mean(samples):7.2f} ms  p50 {p50:7.2f} ms  p95 {p95:7.2f} ms")
    ratio = statistics.median(results["product"]) / statistics.median(results["bare"])
    print(f"  ratio of medians: {ratio:.1f}×")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messenger", choices=("vk", "max"), default="vk")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.messenger, args.n, args.rounds))
