"""Shared pieces of the agent acceptance tests: paths, settings, probes and test doubles."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from agents.answerers.base import Answer
from agents.turn import HistoryItem
from bots.channels.base import Channel, DeliveryError
from bots.config import LLMSettings, Settings
from bots.messages import InboundMessage, OutboundMessage
from store import Database
from store.models import Author, Dialog, InboxItem, Message, OutboxItem

REPO_ROOT = Path(__file__).resolve().parents[2]
# The shared eval data lies beside the clone; SOVETNIK_SHARED points elsewhere (a worktree).
SHARED = Path(os.environ.get("SOVETNIK_SHARED") or REPO_ROOT.parent / "shared")
DEMO_DOCS = REPO_ROOT / "knowledge" / "docs"
ROLES_DIR = REPO_ROOT / "agents" / "roles"
DEFAULT_ROLE = "front_desk"
CHANNEL = "webchat"

# The phone the lead-form tests dictate and the form it must be stored in.
PHONE_SPOKEN = "8 (912) 345-67-89"
PHONE_STORED = "+79123456789"


def normal(text: str) -> str:
    """Lower-case, «ё» → «е», every run of white space (NBSP and narrow NBSP too) → one space."""
    return " ".join(text.lower().replace("ё", "е").split())


def numbers_in(text: str) -> set[str]:
    """Every run of digits in a text."""
    return set(re.findall(r"\d+", text))


def llm_settings(base_url: str, *, timeout_s: float = 5.0, max_steps: int = 4,
                 turn_deadline_s: float = 30.0, **more: Any) -> Settings:
    """Settings with the product's OpenAI-compatible provider pointed at `base_url`.

    `more` holds further `llm:` keys (`first_token_timeout_s`, `breaker_failures`, ...).
    """
    llm = LLMSettings.model_validate({
        "provider": "openai", "base_url": base_url, "model": "local-model", "api_key": "sk-test",
        "timeout_s": timeout_s, "max_steps": max_steps, "turn_deadline_s": turn_deadline_s,
        "first_token_timeout_s": min(timeout_s, 5.0), **more,
    })
    return Settings(base_dir=REPO_ROOT, llm=llm)


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], what: str,
                   timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


def inbound(text: str, update_id: str | int, dialog_key: str = "dialog-1",
            channel: str = CHANNEL) -> InboundMessage:
    """A customer's message as a channel adapter reports it."""
    return InboundMessage(channel=channel, external_update_id=str(update_id),
                          external_message_id=f"m-{update_id}", dialog_key=dialog_key,
                          user_ref=f"user-{dialog_key}", text=text)


# -- reading back what the engine stored ---------------------------------------------------


async def dialog_row(db: Database, dialog_key: str, channel: str = CHANNEL) -> Dialog | None:
    async with db.session() as session:
        query = sa.select(Dialog).where(col(Dialog.channel) == channel,
                                        col(Dialog.dialog_key) == dialog_key)
        return (await session.scalars(query)).first()


async def dialog_messages(db: Database, dialog_key: str, channel: str = CHANNEL) -> list[Message]:
    """Every stored message of a dialog, in storage order."""
    dialog = await dialog_row(db, dialog_key, channel)
    if dialog is None:
        return []
    async with db.session() as session:
        query = sa.select(Message).where(col(Message.dialog_id) == dialog.id).order_by(col(Message.id))
        return list((await session.scalars(query)).all())


async def outbox_items(db: Database, dialog_key: str | None = None,
                       channel: str | None = CHANNEL) -> list[OutboxItem]:
    """Queued replies, oldest first: of one dialog, of one channel (None: every channel)."""
    async with db.session() as session:
        query = sa.select(OutboxItem).order_by(col(OutboxItem.id))
        if dialog_key is not None:
            query = query.where(col(OutboxItem.dialog_key) == dialog_key)
        if channel is not None:
            query = query.where(col(OutboxItem.channel) == channel)
        return list((await session.scalars(query)).all())


def texts(items: list[OutboxItem]) -> list[str]:
    """The message texts of outbox items."""
    return [OutboundMessage.from_payload(item.payload).text for item in items]


async def inbox_items(db: Database) -> list[InboxItem]:
    async with db.session() as session:
        return list((await session.scalars(sa.select(InboxItem).order_by(col(InboxItem.id)))).all())


def authored(messages: list[Message], author: Author) -> list[Message]:
    return [m for m in messages if m.author == author]


# -- test doubles ---------------------------------------------------------------------------


@dataclass
class EchoAnswerer:
    """An answerer that quotes the question, so a reply shows which message it answers.

    `hold` maps a question to an event the answer waits for (bounded by `hold_timeout_s`);
    `started` records every question the moment its answer begins.
    """

    hold: dict[str, asyncio.Event] = field(default_factory=dict)
    hold_timeout_s: float = 15.0
    started: list[str] = field(default_factory=list)
    on_start: Callable[[str], None] | None = None

    async def answer(self, role: Any, text: str, history: tuple[HistoryItem, ...]) -> Answer:
        self.started.append(text)
        if self.on_start is not None:
            self.on_start(text)
        gate = self.hold.get(text)
        if gate is not None:
            await asyncio.wait_for(gate.wait(), self.hold_timeout_s)
        return Answer(echo(text), "offline", grounded=True)


def echo(text: str) -> str:
    """What `EchoAnswerer` replies to `text`."""
    return f"Ответ на «{text}»"


class RecordingChannel(Channel):
    """A messenger that records deliveries and fails the attempts a test scripts."""

    def __init__(self, name: str = CHANNEL) -> None:
        self.name = name
        self.delivered: list[OutboundMessage] = []
        self.attempts: list[OutboundMessage] = []
        self.failures: deque[DeliveryError | None] = deque()

    async def send(self, message: OutboundMessage) -> None:
        self.attempts.append(message)
        failure = self.failures.popleft() if self.failures else None
        if failure is not None:
            raise failure
        self.delivered.append(message)
