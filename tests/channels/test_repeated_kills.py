"""`sovetnik serve` killed again and again with VK and MAX: every update answered once, none lost.

One product process serves both messengers (long polling against their
fakes). It is SIGKILLed at four moments, then started afresh on the same
database each time:

1. the updates are in the inbox and the replies are ready, but none has reached
   the messenger (sends are held before they are recorded);
2. a VK reply has reached the customer, but VK's answer is held, so the product
   never learns it was sent: the restart sends it again after the outbox lease,
   with the same `random_id`, and VK drops the repeat;
3. the same with MAX, which has no such key: the adapter finds the reply in
   the chat's history and does not send it again;
4. the moment a burst of updates is in the inbox, with replies in flight;

and a last burst is sent while no process runs (a restarted VK long poll
resumes from its stored `ts`, MAX's from no `marker`).

Each update comes from its own chat, so "answered once" is one reply per chat.
The outbox sends one item at a time, so a held send stops the others: each
kill holds one messenger's sends at most, or the other's would wait for a
timeout first.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

from tests.channels.test_processes import vk_config, write_config
from tests.fakes.max_server import FakeMax
from tests.fakes.vk_server import FakeVK
from tests.telegram.conftest import free_port
from tests.telegram.test_processes import (  # noqa: F401 - the spawn fixture
    SOVETNIK,
    START_S,
    STOP_S,
    Process,
    spawn,
    table,
    until,
)

BURST = 4  # updates per messenger between two kills; five bursts, 20 in all
LEASE_S = 2.0  # the outbox lease: how soon a reply cut off mid-send goes out again
QUESTION = "Спасибо!"  # the offline answerer's quick reply: no model, no index needed


async def _start(spawn: Any, config: Path, vk: FakeVK, mx: FakeMax) -> Process:  # noqa: F811
    """A fresh `sovetnik serve`, once it polls both messengers."""
    polls_vk, polls_max = len(vk.calls_of("groups.getLongPollServer")), len(mx.poll_times)
    serve: Process = spawn(SOVETNIK, "--config", config, "serve")
    await until(lambda: len(vk.calls_of("groups.getLongPollServer")) > polls_vk
                and len(mx.poll_times) > polls_max, START_S, "polling both messengers", serve)
    return serve


async def _kill(serve: Process) -> None:
    serve.popen.send_signal(signal.SIGKILL)
    assert await serve.wait(STOP_S) == -signal.SIGKILL


def _burst(vk: FakeVK, mx: FakeMax, first_chat: int) -> list[str]:
    """`BURST` updates into each messenger, each from a new chat; their inbox keys."""
    keys = []
    for chat in range(first_chat, first_chat + BURST):
        keys.append(vk.push_text(chat, QUESTION)["event_id"])
        keys.append(mx.push_text(chat, QUESTION)["message"]["body"]["mid"])
    return keys


def _stored(db: Path, keys: list[str]) -> bool:
    return set(keys) <= {key for key, _ in table(db, "inbox")}


async def test_every_update_is_answered_once_through_four_kills(
        tmp_path: Path, spawn: Any) -> None:  # noqa: F811
    db = tmp_path / "bot.db"
    async with FakeVK() as vk, FakeMax() as mx:
        config = write_config(tmp_path, {
            "vk": vk_config(vk), "max": {"enabled": True, "token": mx.token, "api_url": mx.base_url},
            "webchat": {"enabled": False},
        }, server={"host": "127.0.0.1", "port": free_port()},
           store={"url": f"sqlite+aiosqlite:///{db}", "outbox_lease_s": LEASE_S})
        keys: list[str] = []
        serve = await _start(spawn, config, vk, mx)

        # 1. Stored and answered, nothing sent.
        vk.hold_sends("before")
        mx.hold_sends("before")
        keys += _burst(vk, mx, 1000)
        await until(lambda: _stored(db, keys), START_S, "the first burst being stored", serve)
        await until(lambda: vk.hold.held + mx.hold.held > 0, START_S, "a send being held", serve)
        await _kill(serve)
        assert vk.sent == [] and mx.sent == []

        # 2. and 3. Sent, but the product never hears so: VK, then MAX.
        for n, (held, other) in enumerate(((vk, mx), (mx, vk)), start=2):
            held.release_sends()
            other.release_sends()
            held.hold_sends("after")
            serve = await _start(spawn, config, vk, mx)
            keys += _burst(vk, mx, n * 1000)
            await until(lambda k=keys: _stored(db, k), START_S, f"burst {n} being stored", serve)
            await held.wait_held(timeout=START_S)
            await _kill(serve)
        vk.release_sends()
        mx.release_sends()

        # 4. Killed the moment a burst is stored, replies half-way.
        serve = await _start(spawn, config, vk, mx)
        keys += _burst(vk, mx, 4000)
        await until(lambda: _stored(db, keys), START_S, "burst 4 being stored", serve)
        await _kill(serve)

        # Customers write while no process runs; the last run answers everything.
        keys += _burst(vk, mx, 5000)
        serve = await _start(spawn, config, vk, mx)
        chats = [c for base in range(1000, 6000, 1000) for c in range(base, base + BURST)]
        await until(lambda: {m["peer_id"] for m in vk.sent} >= set(chats)
                    and {m["chat_id"] for m in mx.sent} >= set(chats), START_S,
                    "every chat being answered", serve)
        await until(lambda: table(db, "outbox") and all(s == "sent" for _, s in table(db, "outbox")),
                    START_S, "every reply being marked sent", serve)
        await asyncio.sleep(LEASE_S + 2.5)  # a late duplicate would have arrived by now

        for chat in chats:
            for replies in (vk.sent_to(chat), mx.sent_to(chat)):
                assert len(replies) == 1 and "Пожалуйста" in replies[0]["text"], (chat, replies)
        assert sorted(key for key, _ in table(db, "inbox")) == sorted(keys)
        assert {status for _, status in table(db, "inbox")} == {"done"}
        # VK's random_id comes from the outbox item: one per reply, never zero.
        random_ids = [m["random_id"] for m in vk.sent]
        assert 0 not in random_ids and len(set(random_ids)) == len(random_ids)
        assert len(vk.calls_of("messages.send")) > len(vk.sent)  # a resend VK dropped
        assert mx.history_reads > 0  # MAX's history was read before a resend
        with contextlib.suppress(ProcessLookupError):
            serve.popen.send_signal(signal.SIGINT)
        assert await serve.wait(STOP_S) == 0, serve.output()[-3000:]
