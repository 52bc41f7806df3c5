"""Shared pieces of the lead tests: a scripted customer, the application dialog, table probes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import col

from bots.engine import ConversationEngine
from bots.messages import Attachment, InboundMessage
from store import Database

T = TypeVar("T")

ROLE = "deposit_consultant"
CHANNEL = "webchat"
NAME = "Анастасия"
NAME_STEM = "анастаси"  # every case of the name: Анастасия, Анастасии, Анастасию ...
PHONE = "+79123456789"
PHONE_DIGITS = "9123456789"
#: One phone, written the ten ways customers write it.
PHONE_WAYS = (
    "+7 912 345-67-89",
    "89123456789",
    "8 (912) 345-67-89",
    "+7(912)3456789",
    "7 912 345 67 89",
    "912-345-67-89",
    "(912) 345 67 89",
    "тел.: 8-912-345-67-89",
    "8 912 3456789",
    "мой номер +7-912-345-67-89",
)
IDLE_S = 30.0


def application(phone: str = PHONE_WAYS[0], name: str = NAME, amount: str = "500 тыс",
                term: str = "на год") -> list[str]:
    """A deposit application from «хочу» to the customer's «всё верно» under the summary."""
    return ["Хочу открыть вклад", "Согласен", name, phone, amount, term, "Да, всё верно"]


@dataclass
class Customer:
    """One customer's side of a dialog; every message gets a fresh update id."""

    engine: ConversationEngine
    dialog_key: str = "dialog-1"
    user_ref: str = "user-1"
    channel: str = CHANNEL
    sent: list[InboundMessage] = field(default_factory=list)

    async def say(self, *texts: str, attachments: Sequence[Attachment] = ()) -> None:
        """Send messages one by one, each answered before the next."""
        for text in texts:
            message = InboundMessage(
                channel=self.channel, external_update_id=uuid.uuid4().hex, dialog_key=self.dialog_key,
                user_ref=self.user_ref, text=text, attachments=tuple(attachments))
            self.sent.append(message)
            await self.deliver(message)

    async def deliver(self, message: InboundMessage) -> int | None:
        """Hand one message to the engine (again, for a redelivery) and wait for the answer."""
        inbox_id = await self.engine.accept(message)
        await self.engine.idle(IDLE_S)
        return inbox_id


async def rows(db: Database, model: type[T], *where: Any) -> list[T]:
    """Every row of a table (matching `where`), in id order."""
    async with db.session() as session:
        query = sa.select(model).where(*where).order_by(col(model.id))  # type: ignore[attr-defined]
        return list((await session.scalars(query)).all())


async def every_cell(db: Database) -> dict[str, list[str]]:
    """Every non-null value of every table, as text, found by reflection (not by our models)."""

    def read(connection: Connection) -> dict[str, list[str]]:
        found = sa.MetaData()
        found.reflect(connection)
        cells: dict[str, list[str]] = {}
        for table in found.sorted_tables:
            values = connection.execute(sa.select(table)).all()
            cells[table.name] = [str(v) for row in values for v in row if v is not None]
        return cells

    async with db.engine.connect() as connection:
        return await connection.run_sync(read)


def leaks(cells: dict[str, list[str]], *, words: Sequence[str] = (), digits: str | None = None) -> list[str]:
    """`table: value` of every cell that holds one of `words` or the digit run `digits`.

    Digits are compared with every separator removed, so a phone is found however
    it is written («8 (912) 345-67-89», «+79123456789», JSON-escaped...). A word
    made of digits only (a CVC) must stand alone: «987» inside a timestamp's
    microseconds is not a leak.
    """
    patterns = [re.compile(rf"(?<!\d){re.escape(w)}(?!\d)") if w.isdigit() else re.compile(re.escape(w))
                for w in words]
    found = []
    for table, values in cells.items():
        for value in values:
            lowered = value.lower()
            if any(p.search(lowered) for p in patterns) or (digits and digits in re.sub(r"\D", "", value)):
                found.append(f"{table}: {value[:200]}")
    return found
