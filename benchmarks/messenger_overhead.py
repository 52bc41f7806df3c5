"""Per-update overhead of the product's VK and MAX paths against each library's bare echo bot.

Three sides, each polling its own loopback fake (`tests/fakes/vk_server.py`,
`tests/fakes/max_server.py`) in this process, in alternating rounds so a noisy
machine affects them alike:

- product: poll → inbox (SQLite commit) → engine → agent (offline answerer;
  «Спасибо!» gets a fixed reply) → outbox (SQLite) → paced send;
- library: the messenger's own Python library as a bare echo bot —
  `vkbottle` (`Bot.run_polling`, `message.answer`) or `maxapi`
  (`Dispatcher.start_polling`, `message.answer`, `auto_requests=False`);
- bare: the thinnest loop on the product's own HTTP client (poll, send back).

For each update the time is taken from the push to the reply being recorded;
each push waits until the side has a long poll open, so MAX's 2-requests-a-second
spacing of polls is not what gets measured. Updates go one at a time, each from
a new chat. The libraries are the optional `bench` extra:

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/messenger_overhead.py [--messenger vk|max|both] [--n 50] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import ROOT, machine, percentiles

sys.path.insert(0, str(ROOT))  # the fake servers live under tests/

from bots.channels.max import MaxApi
from bots.channels.vk import VkApi
from bots.config import MaxSettings, Settings, VkSettings
from bots.runtime import Runtime
from tests.fakes.max_server import FakeMax
from tests.fakes.vk_server import FakeVK

TEXT = "Спасибо!"
WAIT_S = 30.0
STOP_S = 3.0
SIDES = ("product", "library", "bare")
LIBRARIES = {"vk": "vkbottle", "max": "maxapi"}


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


async def _vkbottle_echo(fake: FakeVK, stop: asyncio.Event) -> None:
    from vkbottle import API, Bot
    from vkbottle.bot import Message
    from vkbottle.polling import BotPolling

    api = API(fake.token)
    api.API_URL = f"{fake.base_url}/method/"  # the library's own switch for another API host
    bot = Bot(api=api, polling=BotPolling(group_id=fake.group_id))

    @bot.on.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text)

    task = asyncio.create_task(bot.run_polling())
    try:
        await stop.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.http_client.close()


async def _maxapi_echo(fake: FakeMax, stop: asyncio.Event) -> None:
    from maxapi import Bot, Dispatcher
    from maxapi.types import MessageCreated

    bot = Bot(token=fake.token, auto_requests=False)  # no extra chat lookups: a bare echo
    bot.set_api_url(fake.base_url)
    dispatcher = Dispatcher()

    @dispatcher.message_created()
    async def echo(event: MessageCreated) -> None:
        await event.message.answer(event.message.body.text)

    task = asyncio.create_task(dispatcher.start_polling(bot))
    try:
        await stop.wait()
    finally:
        await dispatcher.stop_polling()
        await asyncio.gather(task, return_exceptions=True)
        await bot.close_session()


ECHO_BOTS: dict[tuple[str, str], Callable[[Any, asyncio.Event], Awaitable[None]]] = {
    ("vk", "bare"): _vk_echo, ("max", "bare"): _max_echo,
    ("vk", "library"): _vkbottle_echo, ("max", "library"): _maxapi_echo,
}


@contextlib.asynccontextmanager
async def echo_bot(messenger: str, side: str, fake: Any) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(ECHO_BOTS[(messenger, side)](fake, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait({task}, timeout=STOP_S)  # a bare loop may sit in a long poll: cut it
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def one_round(fake: Any, first_chat: int, n: int) -> list[float]:
    samples = []
    for chat in range(first_chat, first_chat + n):
        await fake.wait_poll_open(WAIT_S)
        start = time.perf_counter()
        fake.push_text(chat, TEXT)
        async with asyncio.timeout(WAIT_S):
            while not fake.sent_to(chat):
                await asyncio.sleep(0.0005)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def measure(messenger: str, n: int, rounds: int, folder: Path) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {side: [] for side in SIDES}
    for r in range(rounds):
        for side in SIDES:
            fake = FakeVK() if messenger == "vk" else FakeMax()
            async with fake:
                running = product(messenger, fake, folder / f"{messenger}-{r}") if side == "product" \
                    else echo_bot(messenger, side, fake)
                async with running:
                    await one_round(fake, 10_000, 3)  # warm-up
                    results[side] += await one_round(fake, 20_000, n)
    return results


def report(messenger: str, n: int, rounds: int, results: dict[str, list[float]]) -> None:
    library = LIBRARIES[messenger]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{messenger}: {n} updates × {rounds} rounds; {machine()}; load average {load}")
    for side, samples in results.items():
        p50, p95 = percentiles(samples)
        label = f"{side} ({library})" if side == "library" else side
        print(f"  {label:20} mean {statistics.mean(samples):7.2f} ms  p50 {p50:7.2f} ms  "
              f"p95 {p95:7.2f} ms")
    product_p50 = statistics.median(results["product"])
    for side in ("library", "bare"):
        print(f"  product / {side}: {product_p50 / statistics.median(results[side]):.1f}× (medians)")


async def main(messengers: list[str], n: int, rounds: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(ImportError):  # vkbottle logs every update through loguru
        from loguru import logger

        logger.remove()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # vkbottle keeps its long-poll state in ./.vkbottle: not in the checkout
        for messenger in messengers:
            report(messenger, n, rounds, await measure(messenger, n, rounds, Path(tmp)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messenger", choices=("vk", "max", "both"), default="both")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    chosen = ["vk", "max"] if args.messenger == "both" else [args.messenger]
    asyncio.run(main(chosen, args.n, args.rounds))
