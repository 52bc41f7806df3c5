"""Durable storage of the conversation engine: dialogs, messages, inbox and outbox.

This package depends on no other part of the product. Typical use::

    db = Database.from_url("sqlite+aiosqlite:///var/sovetnik.db")
    await db.migrate()
    async with db.transaction() as session:
        inbox_id = await InboxRepository(session).add("telegram", "42", "chat-1", payload)
"""

import store.accounts
import store.audit  # noqa: F401 - registers the audit log with the metadata
from store.db import DEFAULT_URL, Database
from store.errors import (
    ConnectionFailedError,
    DatabaseURLError,
    InvalidFieldError,
    MigrationError,
    StoreError,
)
from store.leads import (
    ConsentRecord,
    Contact,
    ContactIdentity,
    CrmEvent,
    CrmEventStatus,
    Deal,
    DealStage,
    Product,
)
from store.models import (
    Author,
    ChannelCursor,
    Dialog,
    DialogStatus,
    Direction,
    InboxItem,
    InboxStatus,
    Message,
    OutboxItem,
    OutboxStatus,
)
from store.repositories import (
    ConsentRepository,
    ContactRepository,
    CrmEventRepository,
    CursorRepository,
    DealRepository,
    DialogRepository,
    ErasureRepository,
    InboxRepository,
    MessageRepository,
    OutboxRepository,
    StageMoveError,
    backoff_delay,
)

__all__ = [
    "DEFAULT_URL",
    "Author",
    "ChannelCursor",
    "ConnectionFailedError",
    "ConsentRecord",
    "ConsentRepository",
    "Contact",
    "ContactIdentity",
    "ContactRepository",
    "CrmEvent",
    "CrmEventRepository",
    "CrmEventStatus",
    "CursorRepository",
    "Database",
    "DatabaseURLError",
    "Deal",
    "DealRepository",
    "DealStage",
    "Dialog",
    "DialogRepository",
    "DialogStatus",
    "Direction",
    "ErasureRepository",
    "InboxItem",
    "InboxRepository",
    "InboxStatus",
    "InvalidFieldError",
    "Message",
    "MessageRepository",
    "MigrationError",
    "OutboxItem",
    "OutboxRepository",
    "OutboxStatus",
    "Product",
    "StageMoveError",
    "StoreError",
    "backoff_delay",
]
