"""The JSON a CRM receives for a deal event, and its idempotency key.

Every event carries the whole deal as it is after the change (not a diff), with
its ``version``: a receiver that keeps the highest version per deal is correct
even if it sees an event twice. Field names are stable; add, never rename.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from store.leads import ConsentRecord, Contact, Deal
from store.types import utc_now

SCHEMA_VERSION = 1
CREATED, UPDATED, ERASED = "deal.created", "deal.updated", "deal.erased"


def idempotency_key(deal: Deal, event: str) -> str:
    """A key unique to this event, the same on every retry of it.

    The random part keeps keys of two installations (or a rebuilt database,
    where deal ids start over) from colliding in one CRM.
    """
    return f"deal-{deal.id}-v{deal.version}-{event.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:12]}"


def deal_event(event: str, key: str, deal: Deal, contact: Contact,
               consent: ConsentRecord | None) -> dict[str, Any]:
    """A ``deal.created`` / ``deal.updated`` event: the deal, the contact and the consent."""
    return {
        "schema": SCHEMA_VERSION,
        "event": event,
        "event_id": key,
        "occurred_at": _iso(utc_now()),
        "deal": deal_fields(deal),
        "contact": {"id": contact.id, "name": contact.name, "phone": contact.phone},
        "consent": None if consent is None else {
            "version": consent.text_version,
            "given_at": _iso(consent.given_at),
            "channel": consent.channel,
        },
    }


def erased_event(key: str, deal: Deal) -> dict[str, Any]:
    """A ``deal.erased`` event: the customer withdrew consent; delete their data too."""
    return {
        "schema": SCHEMA_VERSION,
        "event": ERASED,
        "event_id": key,
        "occurred_at": _iso(utc_now()),
        "deal": deal_fields(deal),
        "contact": None,
        "consent": None,
    }


def deal_fields(deal: Deal) -> dict[str, Any]:
    """The deal as the CRM sees it; the amount as a decimal string in major units."""
    amount = None
    if deal.amount_minor is not None:
        amount = str((Decimal(deal.amount_minor) / 100).quantize(Decimal("0.01")))
    return {
        "id": deal.id,
        "version": deal.version,
        "product": str(deal.product),
        "stage": str(deal.stage),
        "score": deal.score,
        "amount": amount,
        "currency": deal.currency,
        "term_months": deal.term_months,
        "city": deal.city,
        "details": dict(deal.details or {}),
        "source_channel": deal.channel,
        "role": deal.role_id,
        "manager": deal.manager,
        "dialog_id": deal.dialog_id,
        "created_at": _iso(deal.created_at),
        "updated_at": _iso(deal.updated_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
