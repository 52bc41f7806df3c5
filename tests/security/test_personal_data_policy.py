"""The personal-data policy's settings and its one-time links, without a running product.

The end-to-end behaviour (Telegram → web chat) is in `test_lawful_channel.py`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bots.config import ConfigError, LawfulChannelsSettings, Settings, load_settings
from bots.handover import NOWHERE_LINE, HandoverLinks, handover_links


def test_telegram_redirects_by_default_and_every_other_channel_collects() -> None:
    channels = Settings().channels
    assert channels.personal_data("telegram") == "redirect"
    assert channels.personal_data("webchat") == "collect"
    assert channels.personal_data("vk") == channels.personal_data("max") == "collect"
    assert channels.redirecting() == frozenset({"telegram"})
    chosen = Settings.model_validate({"channels": {"telegram": {"personal_data": "collect"}}})
    assert chosen.channels.redirecting() == frozenset()


def test_a_mistyped_policy_is_named_with_its_fix(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("channels:\n  webchat: {personal_data: sobirat}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.key == "channels.webchat.personal_data"
    message = str(caught.value)
    assert "'sobirat'" in message and "collect" in message and "redirect" in message, message


def _links(minutes: int = 60, **lawful: str) -> HandoverLinks:
    return HandoverLinks(lambda: "k" * 32, "https://bank.example", minutes, LawfulChannelsSettings(**lawful))


def test_a_link_names_its_dialog_and_code_and_the_history_keeps_no_working_link() -> None:
    offer = _links().offer(42)
    [link] = [w for w in offer.sent.split() if w.startswith("https://bank.example/chat/continue/")]
    token = link.rsplit("/", 1)[1]
    assert _links().read(token) == (42, offer.code)
    assert token not in offer.stored and "[одноразовая ссылка]" in offer.stored
    assert len(offer.code) >= 20 and offer.code != _links().offer(42).code  # random, never reused


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
    lambda t: "x" + t,                                             # payload changed
    lambda t: "garbage",
    lambda t: "",
])
def test_a_forged_link_is_refused(tamper: object) -> None:
    token = _links().offer(7).sent.split("/chat/continue/")[1].split()[0]
    assert callable(tamper)
    assert _links().read(tamper(token)) is None
    assert HandoverLinks(lambda: "other" * 8, "https://bank.example", 60,
                         LawfulChannelsSettings()).read(token) is None  # another server's key


def test_a_link_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = _links(minutes=5).offer(7).sent.split("/chat/continue/")[1].split()[0]
    assert _links(minutes=5).read(token) is not None
    later = time.time() + 6 * 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert _links(minutes=5).read(token) is None


def test_the_offer_names_the_banks_max_and_vk_bots_when_configured() -> None:
    sent = _links(max="https://max.ru/bank_bot", vk="https://vk.me/bank").offer(1).sent
    assert "https://max.ru/bank_bot" in sent and "https://vk.me/bank" in sent and "/chat/continue/" in sent
    without_webchat = handover_links(Settings.model_validate({
        "channels": {"webchat": {"enabled": False}},
        "leads": {"lawful_channels": {"max": "https://max.ru/bank_bot"}}})).offer(1)
    assert without_webchat.sent.startswith("Напишите боту банка в MAX: https://max.ru/bank_bot")
    nowhere = handover_links(Settings.model_validate({"channels": {"webchat": {"enabled": False}}}))
    assert nowhere.offer(1).sent == NOWHERE_LINE


def test_the_link_points_at_the_configured_address() -> None:
    settings = Settings.model_validate({"channels": {"webchat": {"public_url": "https://chat.bank.example/"}},
                                        "server": {"secret_key": "s" * 32}})
    assert "\nhttps://chat.bank.example/chat/continue/" in handover_links(settings).offer(1).sent
    origin = Settings.model_validate({"server": {"public_origins": ["https://bank.example"],
                                                 "secret_key": "s" * 32}})
    assert "https://bank.example/chat/continue/" in handover_links(origin).offer(1).sent
