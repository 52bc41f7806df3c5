"""Plays a dialog file through the real engine, outbox and web chat channel, and checks it.

A dialog file (`cases/*.yaml`) is a list of customer lines, each with what the
bot's reply must or must not say, and the outcome: the deal (or none), a
handoff, what must never be stored. Generic checks run on every dialog: every
line gets a reply, and no bot message is repeated three times running.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlmodel import col

from agents.agent import Agent
from agents.card_data import mask_card_data
from agents.role_registry import RoleRegistry
from bots.channels.webchat import CHANNEL, WebchatChannel
from bots.engine import ConversationEngine, EngineHooks
from bots.leads import lead_sink
from bots.messages import InboundMessage
from bots.outbox import OutboxDispatcher
from store import Database
from store.leads import ConsentRecord, Contact, Deal
from store.models import Dialog
from tests.agents.helpers import REPO_ROOT
from tests.leads.helpers import every_cell, leaks

CASES = Path(__file__).parent / "cases"
MANAGERS = "managers"
IDLE_S = 60.0


def normal(text: str) -> str:
    """Lower case, «ё» → «е», one space for every run of white space."""
    return " ".join(text.lower().replace("ё", "е").split())


class LoopbackTab:
    """A browser tab of the web chat: records the frames the channel pushes to it."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send_json(self, data: dict[str, Any]) -> None:
        self.frames.append(data)

    def take(self) -> list[dict[str, Any]]:
        """The message frames received since the last call."""
        taken = [f for f in self.frames if f.get("type") == "message"]
        self.frames.clear()
        return taken


@dataclass
class ChatBench:
    """One customer's web chat against a fresh store."""

    db: Database
    engine: ConversationEngine
    outbox: OutboxDispatcher
    channel: WebchatChannel
    tab: LoopbackTab = field(default_factory=LoopbackTab)
    key: str = "dialog-chat-0001"
    sent: int = 0

    @classmethod
    def build(cls, db: Database, agent: Agent, roles: RoleRegistry) -> ChatBench:
        from bots.config import Settings

        settings = Settings(base_dir=REPO_ROOT)
        hooks = EngineHooks(managers_channel=MANAGERS, leads=lead_sink(settings, roles))
        engine = ConversationEngine(db, agent, settings.agents.default_role, hooks)
        channel = WebchatChannel()
        return cls(db, engine, OutboxDispatcher(db, {CHANNEL: channel}), channel)

    async def open(self) -> None:
        await self.channel.connect(self.key, self.tab)  # type: ignore[arg-type]

    async def say(self, text: str) -> list[dict[str, Any]]:
        """Send one line as the web chat does; the bot's message frames in reply."""
        self.sent += 1
        await self.engine.accept(InboundMessage(
            channel=CHANNEL, external_update_id=f"{self.key}:{self.sent}",
            external_message_id=str(self.sent), dialog_key=self.key, user_ref=self.key, text=text))
        await self.engine.idle(IDLE_S)
        await self.outbox.deliver_due()
        return self.tab.take()

    async def close(self) -> None:
        await self.engine.close()
        await self.channel.disconnect(self.key, self.tab)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    """A dialog file."""

    path: Path
    title: str
    covers: str
    turns: list[dict[str, Any]]
    outcome: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Case:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(path, raw["title"], raw.get("covers", ""), raw["turns"], raw.get("outcome") or {})


def cases() -> list[Case]:
    """Every dialog file, in name order."""
    return [Case.load(p) for p in sorted(CASES.glob("*.yaml"))]


async def play(bench: ChatBench, case: Case) -> list[str]:
    """Run the dialog, checking each turn; every bot message in order."""
    await bench.open()
    transcript: list[str] = []
    for n, turn in enumerate(case.turns, start=1):
        frames = await bench.say(str(turn["say"]))
        where = f"{case.path.name}, line {n} «{turn['say']}»"
        texts = [f["text"] for f in frames]
        _check_turn(turn, frames, where)
        transcript.extend(texts)
        print(f"> {turn['say']}")
        for text in texts:
            print("  " + text.replace("\n", "\n  "))
    _no_loops(transcript, case.path.name)
    return transcript


def _check_turn(turn: dict[str, Any], frames: list[dict[str, Any]], where: str) -> None:
    texts = [f["text"] for f in frames]
    joined = normal("\n".join(texts))
    if turn.get("no_reply"):
        assert not frames, f"{where}: expected no bot reply, got {texts}"
        return
    assert frames, f"{where}: no reply at all"
    for needle in _list(turn.get("has")):
        assert normal(needle) in joined, f"{where}: reply lacks «{needle}»: {texts}"
    for needle in _list(turn.get("lacks")):
        assert normal(needle) not in joined, f"{where}: reply must not say «{needle}»: {texts}"
    options = _list(turn.get("any"))
    if options:
        assert any(normal(o) in joined for o in options), f"{where}: reply has none of {options}: {texts}"
    if "messages" in turn:
        assert len(frames) == turn["messages"], f"{where}: {len(frames)} messages, not {turn['messages']}"
    if "last_has" in turn:
        assert normal(turn["last_has"]) in normal(texts[-1]), f"{where}: last message: {texts[-1]}"
    buttons = [b for f in frames for b in f.get("quick_replies", [])]
    for button in _list(turn.get("buttons")):
        assert button in buttons, f"{where}: no button «{button}» in {buttons}"
    if "handoff" in turn:
        assert any(f.get("handoff") for f in frames) == turn["handoff"], f"{where}: handoff≠{turn['handoff']}"


def _no_loops(transcript: list[str], name: str) -> None:
    for i in range(len(transcript) - 2):
        a, b, c = (normal(t) for t in transcript[i:i + 3])
        assert not (a == b == c), f"{name}: the bot said the same thing three times running: {a}"


async def check_outcome(bench: ChatBench, case: Case) -> None:
    """The store after the dialog: the deal, the dialog's status, what must never be kept."""
    outcome = case.outcome
    name = case.path.name
    async with bench.db.session() as session:
        deals = list((await session.scalars(sa.select(Deal).order_by(col(Deal.id)))).all())
        contacts = {c.id: c for c in (await session.scalars(sa.select(Contact))).all()}
        consents = list((await session.scalars(sa.select(ConsentRecord))).all())
        dialog = (await session.scalars(sa.select(Dialog))).first()
    if "deal" in outcome:
        expected = outcome["deal"]
        if expected is None:
            found = [(d.product, d.amount_minor) for d in deals]
            assert deals == [], f"{name}: no deal expected, got {found}"
        else:
            assert len(deals) == 1, f"{name}: expected one deal, got {len(deals)}"
            deal, contact = deals[0], contacts[deals[0].contact_id]
            actual = {"product": str(deal.product), "amount_minor": deal.amount_minor,
                      "term_months": deal.term_months, "city": deal.city,
                      "name": contact.name, "phone": contact.phone}
            for key, value in expected.items():
                assert actual[key] == value, f"{name}: deal {key} is {actual[key]!r}, not {value!r}"
            assert re.fullmatch(r"\+7\d{10}", contact.phone or ""), f"{name}: phone not E.164"
    if "consent" in outcome:
        assert bool(consents) == outcome["consent"], f"{name}: consent records {len(consents)}"
    if "status" in outcome:
        assert dialog is not None and str(dialog.status) == outcome["status"], \
            f"{name}: dialog status {dialog.status if dialog else None}"
    if "handoff_reason" in outcome:
        assert dialog is not None and dialog.handoff_reason == outcome["handoff_reason"], \
            f"{name}: handoff reason {dialog.handoff_reason if dialog else None}"
    cells = await every_cell(bench.db)
    for word in _list(outcome.get("never_stored")):
        digits = re.sub(r"\D", "", word)
        found = leaks(cells, digits=digits) if len(digits) >= 6 else leaks(cells, words=[word.lower()])
        assert found == [], f"{name}: «{word}» is stored: {found[:3]}"
    for secret in card_secrets(str(t["say"]) for t in case.turns):
        stored = [f"{table}: {v[:120]}" for table, values in cells.items() for v in values
                  if holds_secret(v, secret)]
        assert stored == [], f"{name}: card data {secret} is stored: {stored[:3]}"


def card_secrets(lines: Iterable[str]) -> list[str]:
    """The digit runs of card numbers, CVV and codes the customer wrote (to look for in the store)."""
    found: list[str] = []
    for line in lines:
        masked = mask_card_data(line)
        if not masked.kinds:
            continue
        kept = set(re.findall(r"\d+", masked.text))
        for run in re.findall(r"\d(?:[ \-]?\d)+", line):
            digits = re.sub(r"\D", "", run)
            if digits not in kept and len(digits) >= 3:
                found.append(digits)
    return found


def holds_secret(text: str, secret: str) -> bool:
    """Whether `text` carries the digits of `secret`: a card number however it is split,
    a short code as a number of its own."""
    if len(secret) >= 12:
        return secret in re.sub(r"\D", "", text)
    return re.search(rf"(?<!\d){secret}(?!\d)", text) is not None


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(value)] if isinstance(value, str | int) else [str(v) for v in value]
