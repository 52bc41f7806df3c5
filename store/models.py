"""The conversation engine's tables: dialogs, their messages, the inbox, the outbox and
the channels' cursors.

All tables hang off their own ``MetaData`` (with a naming convention) rather than
``SQLModel.metadata``, so the migrations describe exactly these tables whatever
else in the process happens to define SQLModel classes, and every constraint has a
stable name that later migrations (including SQLite batch ones) can refer to.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from store.types import IdType, JSONType, UTCDateTime, utc_now

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The metadata the migrations are checked against.
metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class StoreModel(SQLModel, registry=registry(metadata=metadata)):
    """Abstract base of the store's tables."""


class DialogStatus(StrEnum):
    """Who is answering a dialog."""

    BOT = "bot"
    WAITING = "waiting"  # handed off, waiting for a manager to pick it up
    MANAGER = "manager"
    CLOSED = "closed"


class Direction(StrEnum):
    """Whether a message came from the customer's side or went to it."""

    IN = "in"
    OUT = "out"


class Author(StrEnum):
    """Who wrote a message."""

    CUSTOMER = "customer"
    AGENT = "agent"
    MANAGER = "manager"
    SYSTEM = "system"


class InboxStatus(StrEnum):
    """Processing state of an inbound message."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class OutboxStatus(StrEnum):
    """Delivery state of an outbound message."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


def _id_column() -> sa.Column[Any]:
    return sa.Column("id", IdType, primary_key=True)


def _enum_column(enum: type[StrEnum], name: str) -> sa.Column[Any]:
    """A short VARCHAR with a CHECK constraint ``ck_<table>_<name>``.

    Not a native PostgreSQL ENUM: adding a value to one needs its own migration
    dance, and SQLite has none anyway.
    """
    kind = sa.Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )
    return sa.Column(kind, nullable=False)


def _time_column(*, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(UTCDateTime(), nullable=nullable)


def _json_column() -> sa.Column[Any]:
    return sa.Column(JSONType, nullable=False)


def _str_column(length: int | None = None, *, nullable: bool = False) -> sa.Column[Any]:
    kind = sa.String(length) if length else sa.Text()
    return sa.Column(kind, nullable=nullable)


def _fk_column(target: str, ondelete: str, *, nullable: bool) -> sa.Column[Any]:
    return sa.Column(IdType, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable)


class Dialog(StoreModel, table=True):
    """One conversation between a customer and the bank in one channel."""

    __tablename__ = "dialogs"
    __table_args__ = (
        sa.UniqueConstraint("channel", "dialog_key"),
        sa.Index(None, "status", "updated_at"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=_id_column())
    channel: str = Field(sa_column=_str_column(32))
    dialog_key: str = Field(sa_column=_str_column(255))
    user_ref: str = Field(sa_column=_str_column(255))
    role_id: str = Field(sa_column=_str_column(64))
    status: DialogStatus = Field(
        default=DialogStatus.BOT, sa_column=_enum_column(DialogStatus, "status")
    )
    handoff_reason: str | None = Field(default=None, sa_column=_str_column(nullable=True))
    assigned_to: str | None = Field(default=None, sa_column=_str_column(255, nullable=True))
    summary: str = Field(default="", sa_column=_str_column())
    state: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())
    created_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    updated_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    last_message_at: datetime | None = Field(default=None, sa_column=_time_column(nullable=True))


class Message(StoreModel, table=True):
    """One message of a dialog, in either direction."""

    __tablename__ = "messages"
    __table_args__ = (sa.Index(None, "dialog_id", "id"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, sa_column=_id_column())
    dialog_id: int = Field(sa_column=_fk_column("dialogs.id", "CASCADE", nullable=False))
    direction: Direction = Field(sa_column=_enum_column(Direction, "direction"))
    author: Author = Field(sa_column=_enum_column(Author, "author"))
    text: str = Field(sa_column=_str_column())
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())
    inbox_id: int | None = Field(
        default=None, sa_column=_fk_column("inbox.id", "SET NULL", nullable=True)
    )
    created_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())


class InboxItem(StoreModel, table=True):
    """An inbound message as received from a channel, before it is answered."""

    __tablename__ = "inbox"
    __table_args__ = (
        sa.UniqueConstraint("channel", "external_id"),
        sa.Index(None, "status", "id"),
        sa.Index(None, "channel", "dialog_key", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=_id_column())
    channel: str = Field(sa_column=_str_column(32))
    external_id: str = Field(sa_column=_str_column(255))
    dialog_key: str = Field(sa_column=_str_column(255))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())
    status: InboxStatus = Field(
        default=InboxStatus.PENDING, sa_column=_enum_column(InboxStatus, "status")
    )
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    last_error: str | None = Field(default=None, sa_column=_str_column(nullable=True))
    received_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    processed_at: datetime | None = Field(default=None, sa_column=_time_column(nullable=True))


class ChannelCursor(StoreModel, table=True):
    """Where a channel's pull of updates stands (a long-poll ``ts``, an offset).

    Written only after every update before it is in the inbox, so a restarted
    process resumes there and asks the messenger again for what it had not
    stored yet (the inbox drops what it already has).
    """

    __tablename__ = "channel_cursors"

    channel: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    key: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    value: str = Field(sa_column=_str_column())
    updated_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())


class OutboxItem(StoreModel, table=True):
    """An outbound message waiting to be (or already) delivered to a channel."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index(None, "status", "next_attempt_at"),
        sa.Index(None, "channel", "dialog_key", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=_id_column())
    channel: str = Field(sa_column=_str_column(32))
    dialog_key: str = Field(sa_column=_str_column(255))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())
    status: OutboxStatus = Field(
        default=OutboxStatus.PENDING, sa_column=_enum_column(OutboxStatus, "status")
    )
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    next_attempt_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    last_error: str | None = Field(default=None, sa_column=_str_column(nullable=True))
    inbox_id: int | None = Field(
        default=None, sa_column=_fk_column("inbox.id", "SET NULL", nullable=True)
    )
    created_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    sent_at: datetime | None = Field(default=None, sa_column=_time_column(nullable=True))
