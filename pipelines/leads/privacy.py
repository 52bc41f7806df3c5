"""Personal data rules (152-ФЗ): nothing before consent, everything erasable on request.

- ``mask_phones`` hides phone numbers a customer writes before agreeing to the
  processing text, so they are never stored.
- ``erase_customer`` (the ``/forget`` command, the console's delete) removes a
  customer's personal data from contacts, deals, the CRM outbox, messages and
  their transcripts, the inbox and outbox payloads and the dialog state; rows
  stay as tombstones and the erasure is recorded in the audit log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.ru.phones import phone_spans
from pipelines.leads.payload import ERASED, erased_event, idempotency_key
from store.audit import AuditRepository
from store.db import Database
from store.leads import OPEN_STAGES, Deal, DealStage
from store.repositories import (
    ConsentRepository,
    ContactRepository,
    CrmEventRepository,
    DealRepository,
    ErasureRepository,
)

log = logging.getLogger(__name__)

MASK = "*"
#: Any run of at least seven digits with the usual separators: foreign and odd phones too.
_LONG_NUMBER = re.compile(r"\+?\d(?:[\s().-]{0,3}\d){6,}")


def mask_phones(text: str) -> str:
    """``text`` with the digits of every phone number (and long digit run) masked."""
    return _mask(text, _number_spans(text))


def mask_echoed_phones(text: str, customer_text: str) -> str:
    """``text`` with only the numbers the customer wrote masked (a reply quoting them).

    The bank's own numbers in the same reply (a hotline from the knowledge
    base) stay readable; numbers are compared by their last seven digits.
    """
    written = {_digits(customer_text[a:b])[-7:] for a, b in _number_spans(customer_text)}
    echoed = [(a, b) for a, b in _number_spans(text) if _digits(text[a:b])[-7:] in written]
    return _mask(text, echoed)


def _number_spans(text: str) -> list[tuple[int, int]]:
    return [*phone_spans(text), *(m.span() for m in _LONG_NUMBER.finditer(text))]


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        for index in range(start, end):
            if chars[index].isdigit():
                chars[index] = MASK
    return "".join(chars)


@dataclass
class ErasureReport:
    """How many rows an erasure touched, by table (no personal data, fit for the audit log)."""

    contacts: int = 0
    deals: int = 0
    dialogs: int = 0
    messages: int = 0
    inbox: int = 0
    outbox: int = 0
    consents: int = 0
    crm_events_dropped: int = 0
    crm_events_blanked: int = 0
    #: Kept voice recordings of the erased dialogs: delete them once the erasure is committed.
    audio_files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        """Counts by table, for JSON and the audit log."""
        counts = {k: v for k, v in asdict(self).items() if isinstance(v, int)}
        return counts | {"audio_files": len(self.audio_files)}


def remove_files(paths: Iterable[str]) -> int:
    """Delete files (voice recordings of an erased customer); return how many went."""
    removed = 0
    for path in paths:
        try:
            Path(path).unlink(missing_ok=True)
            removed += 1
        except OSError as exc:  # the erasure stands; the retention sweep gets the file later
            log.warning("could not delete an erased customer's recording: %s", exc.strerror)
    return removed


async def forget_customer(db: Database, *, actor: str, channel: str | None = None,
                          user_ref: str | None = None, contact_id: int | None = None,
                          managers_channel: str | None = None) -> ErasureReport:
    """Erase one customer in a transaction of its own (the console's delete button).

    Name the customer by messenger account (``channel`` and ``user_ref``) or by
    ``contact_id``; ``actor`` is who asked, for the audit log.
    """
    async with db.transaction() as session:
        report = await erase_customer(
            session, actor=actor, channel=channel, user_ref=user_ref,
            contact_ids=() if contact_id is None else (contact_id,), managers_channel=managers_channel)
    remove_files(report.audio_files)
    return report


async def erase_customer(session: AsyncSession, *, actor: str, channel: str | None = None,
                         user_ref: str | None = None, contact_ids: tuple[int, ...] = (),
                         dialog_ids: tuple[int, ...] = (), keep_inbox_id: int | None = None,
                         managers_channel: str | None = None) -> ErasureReport:
    """Erase a customer's personal data inside the caller's transaction.

    The customer is everything connected to the account, contacts and dialogs
    given: the contacts their deals and accounts lead to, and every dialog of
    those accounts. ``keep_inbox_id`` is the inbound message being answered (the
    ``/forget`` itself), blanked although not yet marked done.
    ``managers_channel`` names the outbox channel of manager notifications,
    which quote the customer too. Voice recordings are listed in the report,
    for the caller to delete after the commit.
    """
    contacts, dialogs = await _scope(session, channel, user_ref, set(contact_ids), set(dialog_ids))
    deals = await DealRepository(session).of_contacts(contacts)
    dialogs |= {deal.dialog_id for deal in deals if deal.dialog_id is not None}
    report = ErasureReport()
    await _erase_conversations(session, dialogs, keep_inbox_id, managers_channel, report)
    report.consents = await ConsentRepository(session).withdraw(dialog_ids=dialogs, contact_ids=contacts)
    for deal in deals:
        await _erase_deal(session, deal, report)
    repository = ContactRepository(session)
    report.contacts = await repository.erase(contacts)
    if channel and user_ref:
        await repository.forget_identity(channel, user_ref)
    await AuditRepository(session).add(
        actor, "customer.erased", _target(contacts, dialogs),
        {**report.as_dict(), "contact_ids": sorted(contacts), "dialog_ids": sorted(dialogs)})
    return report


async def _scope(session: AsyncSession, channel: str | None, user_ref: str | None,
                 contacts: set[int], dialogs: set[int]) -> tuple[set[int], set[int]]:
    """The customer's contacts and dialogs, from an account, known contacts and dialogs."""
    erasure, repository = ErasureRepository(session), ContactRepository(session)
    if channel and user_ref:
        # An account's request reaches only what the account owns: its own contact
        # and dialogs. Another contact that happens to share a phone is not its to erase.
        dialogs |= {d.id for d in await erasure.dialogs_of_user(channel, user_ref) if d.id is not None}
        known = await repository.by_identity(channel, user_ref)
        if known is not None and known.id is not None:
            contacts.add(known.id)
    else:
        contacts |= await DealRepository(session).contacts_of_dialogs(dialogs)
    # The same person's other messenger accounts (joined by a manager's merge) and their dialogs.
    for identity in await repository.identities(contacts):
        found = await erasure.dialogs_of_user(identity.channel, identity.user_ref)
        dialogs |= {d.id for d in found if d.id is not None}
    return contacts, dialogs


async def _erase_conversations(session: AsyncSession, dialog_ids: set[int], keep_inbox_id: int | None,
                               managers_channel: str | None, report: ErasureReport) -> None:
    erasure = ErasureRepository(session)
    dialogs = await erasure.dialogs(dialog_ids)
    keys = {(d.channel, d.dialog_key) for d in dialogs}
    if managers_channel:
        keys |= {(managers_channel, str(d.id)) for d in dialogs}
    # Kept recordings are named in the stored messages' metadata and, for messages
    # rewritten before consent, in the inbox payloads: look in both.
    payloads = [*await erasure.inbox_payloads(keys), *await erasure.message_metas(dialog_ids)]
    report.audio_files = sorted(set(_recordings(payloads)))
    report.dialogs = await erasure.reset_dialogs(dialog_ids)
    report.messages = await erasure.blank_messages(dialog_ids)
    report.inbox = await erasure.blank_inbox(keys, also_id=keep_inbox_id)
    report.outbox = await erasure.blank_outbox(keys)


def _recordings(payloads: Iterable[dict[str, Any]]) -> list[str]:
    """Paths of the voice recordings kept for these inbound messages."""
    found = []
    for payload in payloads:
        for attachment in payload.get("attachments") or ():
            transcript = (attachment or {}).get("transcript") or {}
            if transcript.get("audio_file"):
                found.append(str(transcript["audio_file"]))
    return found


async def _erase_deal(session: AsyncSession, deal: Deal, report: ErasureReport) -> None:
    """Blank a deal's personal fields and its CRM events; tell the CRM if it ever knew the deal."""
    assert deal.id is not None
    events = CrmEventRepository(session)
    report.crm_events_dropped += await events.drop_unsent([deal.id])
    blanked = await events.blank_sent([deal.id])
    report.crm_events_blanked += blanked
    changes: dict[str, Any] = {"city": None, "details": {}}
    if deal.stage in OPEN_STAGES:
        changes["stage"] = DealStage.LOST
    repository = DealRepository(session)
    if not await repository.apply(deal, changes):
        await repository.bump(deal)  # the erasure event must be newer than anything sent
    report.deals += 1
    if blanked:
        key = idempotency_key(deal, ERASED)
        await events.add(deal.id, ERASED, erased_event(key, deal), key)


def _target(contacts: set[int], dialogs: set[int]) -> str:
    """The audit subject: which contacts (or, without any, which dialogs) were erased."""
    if contacts:
        return "contacts:" + ",".join(str(c) for c in sorted(contacts))[:240]
    return "dialogs:" + ",".join(str(d) for d in sorted(dialogs))[:240]
