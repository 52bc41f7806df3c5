"""The deal store's tables: contacts, deals, consents and the CRM outbox.

They share the conversation tables' ``metadata`` (and so its naming convention and
the migrations' schema check); ``store/__init__.py`` imports this module, so any
import of ``store.models`` sees them too. The audit log is ``store.audit``.

Personal data lives in exactly three places here: ``contacts.name``,
``contacts.phone`` and ``deals.city`` (plus ``deals.details``, free-form fields a
role may collect), and in the payloads of ``crm_events``. Erasure clears those and
keeps the rows as tombstones, so counts, stages and the audit trail survive.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from store.models import (
    StoreModel,
    _enum_column,
    _fk_column,
    _id_column,
    _json_column,
    _str_column,
    _time_column,
)
from store.types import utc_now


class Product(StrEnum):
    """What a deal is about."""

    DEPOSIT = "deposit"
    LOAN = "loan"
    OTHER = "other"


class DealStage(StrEnum):
    """Where a deal is in the funnel: new → qualified → in_work → won / lost."""

    NEW = "new"
    QUALIFIED = "qualified"
    IN_WORK = "in_work"
    WON = "won"
    LOST = "lost"


#: Stages in which a returning customer's new application updates the deal.
OPEN_STAGES: tuple[DealStage, ...] = (DealStage.NEW, DealStage.QUALIFIED, DealStage.IN_WORK)

#: Allowed moves; anything else is refused, so a won deal cannot silently reopen.
STAGE_MOVES: dict[DealStage, frozenset[DealStage]] = {
    DealStage.NEW: frozenset({DealStage.QUALIFIED, DealStage.IN_WORK, DealStage.LOST}),
    DealStage.QUALIFIED: frozenset({DealStage.IN_WORK, DealStage.LOST}),
    DealStage.IN_WORK: frozenset({DealStage.WON, DealStage.LOST}),
    DealStage.WON: frozenset(),
    DealStage.LOST: frozenset(),
}


class CrmEventStatus(StrEnum):
    """Delivery state of a CRM event."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


def _int_column(*, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(sa.Integer(), nullable=nullable)


class Contact(StoreModel, table=True):
    """A customer as the bank knows them: the person behind one or more messenger accounts.

    A contact is found by its accounts (``ContactIdentity``), never by its phone:
    ``phone`` (E.164) is what the customer asked to be called on, an attribute
    that two people may share (one of them mistyping, or lying). Only a manager's
    explicit merge joins two contacts; the merged one keeps its row with
    ``merged_into_id`` set. An erased contact keeps its row with ``name`` and
    ``phone`` cleared and ``erased_at`` set (a tombstone).
    """

    __tablename__ = "contacts"
    __table_args__ = (sa.Index(None, "phone"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, sa_column=_id_column())
    name: str | None = Field(default=None, sa_column=_str_column(nullable=True))
    phone: str | None = Field(default=None, sa_column=_str_column(16, nullable=True))
    merged_into_id: int | None = Field(
        default=None, sa_column=_fk_column("contacts.id", "SET NULL", nullable=True)
    )
    #: When the messenger proved ``phone`` is the account's own (cleared when it changes).
    phone_verified_at: datetime | None = Field(
        default=None, sa_column=_time_column(nullable=True)
    )
    created_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    updated_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    erased_at: datetime | None = Field(default=None, sa_column=_time_column(nullable=True))


class ContactIdentity(StoreModel, table=True):
    """A messenger account of a contact: ``(channel, user_ref)`` points at one contact."""

    __tablename__ = "contact_identities"
    __table_args__ = (
        sa.UniqueConstraint("channel", "user_ref"),
        sa.Index(None, "contact_id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=_id_column())
    contact_id: int = Field(sa_column=_fk_column("contacts.id", "CASCADE", nullable=False))
    channel: str = Field(sa_column=_str_column(32))
    user_ref: str = Field(sa_column=_str_column(255))
    created_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())


class ConsentRecord(StoreModel, table=True):
    """A customer's agreement to the processing text of ``text_version``.

    Recorded on the turn the customer agrees, before any personal data is
    taken; linked to the contact once the lead is stored. Withdrawing (``/forget``)
    sets ``withdrawn_at`` and keeps the record as proof of what was agreed when.
    """

    __tablename__ = "consent_records"
    __table_args__ = (
        sa.Index(None, "dialog_id", "id"),
        sa.Index(None, "contact_id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=_id_column())
    contact_id: int | None = Field(
        default=None, sa_column=_fk_column("contacts.id", "SET NULL", nullable=True)
    )
    dialog_id: int | None = Field(
        default=None, sa_column=_fk_column("dialogs.id", "SET NULL", nullable=True)
    )
    message_id: int | None = Field(
        default=None, sa_column=_fk_column("messages.id", "SET NULL", nullable=True)
    )
    channel: str = Field(sa_column=_str_column(32))
    text_version: str = Field(sa_column=_str_column(64))
    given_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    withdrawn_at: datetime | None = Field(default=None, sa_column=_time_column(nullable=True))


class Deal(StoreModel, table=True):
    """A customer's application for a product, from the first form to won or lost.

    ``version`` grows with every change that the CRM should hear about; the
    CRM event of each change carries it, so a receiver can drop stale updates.
    Amounts are kept in minor units (kopecks) to stay exact on every backend.
    """

    __tablename__ = "deals"
    __table_args__ = (
        sa.Index(None, "contact_id", "stage"),
        sa.Index(None, "stage", "updated_at"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=_id_column())
    contact_id: int = Field(sa_column=_fk_column("contacts.id", "CASCADE", nullable=False))
    product: Product = Field(sa_column=_enum_column(Product, "product"))
    amount_minor: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True)
    )
    currency: str | None = Field(default=None, sa_column=_str_column(3, nullable=True))
    term_months: int | None = Field(default=None, sa_column=_int_column(nullable=True))
    city: str | None = Field(default=None, sa_column=_str_column(nullable=True))
    channel: str = Field(sa_column=_str_column(32))
    role_id: str = Field(sa_column=_str_column(64))
    stage: DealStage = Field(default=DealStage.NEW, sa_column=_enum_column(DealStage, "stage"))
    score: int = Field(default=0, sa_column=_int_column())
    manager: str | None = Field(default=None, sa_column=_str_column(255, nullable=True))
    dialog_id: int | None = Field(
        default=None, sa_column=_fk_column("dialogs.id", "SET NULL", nullable=True)
    )
    consent_id: int | None = Field(
        default=None, sa_column=_fk_column("consent_records.id", "SET NULL", nullable=True)
    )
    details: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())
    version: int = Field(default=1, sa_column=_int_column())
    created_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    updated_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    qualified_at: datetime | None = Field(default=None, sa_column=_time_column(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=_time_column(nullable=True))


class CrmEvent(StoreModel, table=True):
    """One change of a deal, queued for the CRM webhook in the transaction that made it.

    Kept apart from the messenger ``outbox``: different payloads, receivers,
    retry policy and ordering key (the deal, not the chat).
    """

    __tablename__ = "crm_events"
    __table_args__ = (
        sa.UniqueConstraint("idempotency_key"),
        sa.Index(None, "status", "next_attempt_at"),
        sa.Index(None, "deal_id", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=_id_column())
    deal_id: int = Field(sa_column=_fk_column("deals.id", "CASCADE", nullable=False))
    event: str = Field(sa_column=_str_column(32))
    idempotency_key: str = Field(sa_column=_str_column(128))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())
    status: CrmEventStatus = Field(
        default=CrmEventStatus.PENDING, sa_column=_enum_column(CrmEventStatus, "status")
    )
    attempts: int = Field(default=0, sa_column=_int_column())
    next_attempt_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    last_error: str | None = Field(default=None, sa_column=_str_column(nullable=True))
    created_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())
    sent_at: datetime | None = Field(default=None, sa_column=_time_column(nullable=True))
