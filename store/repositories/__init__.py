"""Repositories: one per aggregate, each working inside a caller-owned session.

The caller owns the transaction, so one unit of work can span them: store the
replies, enqueue them and mark the inbound message done, then commit once.
"""

from store.repositories.consents import ConsentRepository
from store.repositories.contacts import ContactRepository
from store.repositories.crm_events import CrmEventRepository
from store.repositories.cursors import CursorRepository
from store.repositories.deals import DealRepository, StageMoveError
from store.repositories.dialogs import DialogRepository
from store.repositories.erasure import ErasureRepository
from store.repositories.inbox import InboxRepository
from store.repositories.messages import MessageRepository
from store.repositories.outbox import OutboxRepository, backoff_delay

__all__ = [
    "ConsentRepository",
    "ContactRepository",
    "CrmEventRepository",
    "CursorRepository",
    "DealRepository",
    "DialogRepository",
    "ErasureRepository",
    "InboxRepository",
    "MessageRepository",
    "OutboxRepository",
    "StageMoveError",
    "backoff_delay",
]
