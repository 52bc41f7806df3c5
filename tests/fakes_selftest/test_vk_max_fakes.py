"""The VK and MAX fakes behave like the real APIs where the product relies on it."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.fakes.max_server import FakeMax
from tests.fakes.vk_server import FakeVK


async def _vk(vk: FakeVK, method: str, **params: Any) -> dict[str, Any]:
    form = {"access_token": vk.token, "v": "5.199", **{k: str(v) for k, v in params.items()}}
    async with aiohttp.ClientSession() as session, \
            session.post(f"{vk.base_url}/method/{method}", data=form) as answer:
        result: dict[str, Any] = await answer.json()
        return result


async def test_vk_sends_a_non_zero_random_id_once_and_zero_every_time() -> None:
    async with FakeVK() as vk:
        first = await _vk(vk, "messages.send", peer_id=1, message="a", random_id=77)
        again = await _vk(vk, "messages.send", peer_id=1, message="a", random_id=77)
        assert first["response"] == again["response"] and len(vk.sent) == 1
        # VK keys random_id on the sender (the community), not on the peer.
        await _vk(vk, "messages.send", peer_id=2, message="a", random_id=77)
        await _vk(vk, "messages.send", peer_id=1, message="b", random_id=0)
        await _vk(vk, "messages.send", peer_id=1, message="b", random_id=0)
        assert len(vk.sent) == 3


async def test_vk_refuses_what_vk_refuses() -> None:
    async with FakeVK() as vk:
        assert (await _vk(vk, "messages.send", peer_id=1, message="a"))["error"]["error_code"] == 100
        long_label = json.dumps({"buttons": [[{"action": {"type": "text", "label": "x" * 41}}]]})
        answer = await _vk(vk, "messages.send", peer_id=1, message="a", random_id=1, keyboard=long_label)
        assert answer["error"]["error_code"] == 911
        answer = await _vk(vk, "messages.send", peer_id=1, message="x" * 4097, random_id=2)
        assert answer["error"]["error_code"] == 914
        vk.fail_next("messages.send", 6)
        throttled = await _vk(vk, "messages.send", peer_id=1, message="a", random_id=3)
        assert throttled["error"]["error_code"] == 6
        form = {"access_token": "wrong", "v": "5.199"}
        async with aiohttp.ClientSession() as session, \
                session.post(f"{vk.base_url}/method/messages.send", data=form) as raw:
            assert (await raw.json())["error"]["error_code"] == 5
        assert vk.sent == []


async def test_max_wants_the_token_in_the_header_only() -> None:
    async with FakeMax() as mx, aiohttp.ClientSession() as session:
        url = f"{mx.base_url}/messages"
        async with session.post(url, params={"chat_id": 1, "access_token": mx.token},
                                json={"text": "a"}) as answer:
            assert answer.status == 401
        async with session.post(url, params={"chat_id": 1}, json={"text": "a"},
                                headers={"Authorization": mx.token}) as answer:
            assert answer.status == 200
        async with session.post(url, params={"chat_id": 1}, json={"text": "x" * 4001},
                                headers={"Authorization": mx.token}) as answer:
            assert answer.status == 400
        assert [m["text"] for m in mx.sent] == ["a"]


async def test_max_long_polling_moves_on_with_the_marker() -> None:
    async with FakeMax() as mx, aiohttp.ClientSession(headers={"Authorization": mx.token}) as session:
        mx.push_text(1, "первое")
        mx.push_text(1, "второе")
        async with session.get(f"{mx.base_url}/updates", params={"timeout": "1"}) as answer:
            batch = await answer.json()
        assert [u["message"]["body"]["text"] for u in batch["updates"]] == ["первое", "второе"]
        async with session.get(f"{mx.base_url}/updates",
                               params={"marker": str(batch["marker"]), "timeout": "0"}) as answer:
            assert (await answer.json())["updates"] == []
