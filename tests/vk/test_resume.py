"""A restarted VK long poll resumes from the last stored batch: nothing VK handed over is lost."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bots.channels.vk import VkChannel
from bots.messages import InboundMessage
from bots.runtime import Runtime
from tests.fakes.vk_server import FakeVK
from tests.telegram.conftest import WAIT_S, inbox_of
from tests.vk.conftest import StartRuntime


async def _answered_once(vk: FakeVK, runtime: Runtime, peers: list[int]) -> None:
    for peer in peers:
        await vk.wait_sent(1, timeout=WAIT_S, peer_id=peer)
    await runtime.engine.idle()
    await asyncio.sleep(0.3)  # room for a repeat, were there one
    assert {peer: len(vk.sent_to(peer)) for peer in peers} == dict.fromkeys(peers, 1)


async def test_messages_sent_while_the_product_is_stopped_are_answered_after_a_restart(
        vk: FakeVK, start_vk: StartRuntime) -> None:
    runtime = await start_vk()
    await vk.wait_poll_open()
    vk.push_text(8001, "Спасибо!")
    await _answered_once(vk, runtime, [8001])
    await runtime.stop()

    vk.push_text(8002, "Спасибо!")  # nobody is polling now
    vk.push_text(8003, "Спасибо!")
    runtime = await start_vk()

    await _answered_once(vk, runtime, [8001, 8002, 8003])
    assert len(await inbox_of(runtime)) == 3


async def test_a_batch_handed_over_but_not_stored_is_answered_after_a_restart(
        vk: FakeVK, start_vk: StartRuntime) -> None:
    runtime = await start_vk()
    await vk.wait_poll_open()
    channel = runtime.channels["vk"]
    assert isinstance(channel, VkChannel)
    handed = asyncio.Event()

    async def killed_while_storing(message: InboundMessage) -> None:
        handed.set()
        await asyncio.Event().wait()  # the process dies here, before the event is in the inbox

    channel.accept = killed_while_storing
    vk.push_text(8101, "Спасибо!")
    vk.push_text(8102, "Спасибо!")
    await asyncio.wait_for(handed.wait(), WAIT_S)
    await runtime.stop()
    assert vk.sent == []

    runtime = await start_vk()
    await _answered_once(vk, runtime, [8101, 8102])


async def test_a_restart_after_vk_lost_the_history_goes_on_with_a_warning(
        vk: FakeVK, start_vk: StartRuntime, caplog: pytest.LogCaptureFixture) -> None:
    runtime = await start_vk()
    await vk.wait_poll_open()
    vk.push_text(8201, "Спасибо!")
    await _answered_once(vk, runtime, [8201])
    await runtime.stop()
    vk.push_text(8202, "Спасибо!")
    vk.forget_events()  # down longer than VK keeps events: 8202's message is gone at VK too

    with caplog.at_level(logging.WARNING, logger="bots.channels.vk"):
        runtime = await start_vk()
        await vk.wait_poll_open()
        vk.push_text(8203, "Спасибо!")
        await _answered_once(vk, runtime, [8203])
    assert any("may have been missed" in record.getMessage() for record in caplog.records)
