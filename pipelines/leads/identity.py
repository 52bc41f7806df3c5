"""Who a contact is: manager decisions that join or erase contacts, each one audited.

A contact belongs to the messenger accounts that filled its forms (see
``ContactRepository.of_identity``). A phone typed in a chat proves nothing, so
two contacts with one phone stay apart until a manager, having checked,
merges them here; and erasing "everyone with this phone" is a manager's or
admin's act with a stated reason, never something a chat can ask for.
"""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.ru.phones import normalize_phone
from pipelines.leads.privacy import ErasureReport, erase_customer, remove_files
from store.audit import AuditRepository
from store.db import Database
from store.errors import StoreError
from store.repositories import ContactRepository, DealRepository

MIN_REASON = 5


class IdentityActionError(ValueError):
    """A merge or erasure the console refuses; the message is for the manager (Russian)."""


@dataclass(frozen=True)
class ContactView:
    """A contact as the console lists it next to others with the same phone."""

    id: int
    name: str | None
    phone: str | None
    accounts: list[str]
    deals: int
    #: The messenger proved the phone is this contact's own (a shared Telegram contact).
    verified: bool = False


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON:
        raise IdentityActionError("Укажите причину (не короче 5 символов): она попадёт в журнал.")
    return reason[:500]


def _phone(phone: str) -> str:
    normal = normalize_phone(phone)
    if normal is None:
        raise IdentityActionError("Не удалось распознать номер телефона.")
    return normal


async def contacts_with_phone(db: Database, phone: str) -> list[ContactView]:
    """Every live contact that gave this phone, with its accounts and deal count."""
    normal = _phone(phone)
    async with db.session() as session:
        repository = ContactRepository(session)
        contacts = await repository.with_phone(normal)
        ids = [c.id for c in contacts if c.id is not None]
        identities = await repository.identities(ids)
        deals = await DealRepository(session).of_contacts(ids)
    return [ContactView(c.id, c.name, c.phone,
                        [f"{i.channel}:{i.user_ref}" for i in identities if i.contact_id == c.id],
                        sum(1 for d in deals if d.contact_id == c.id), c.phone_verified_at is not None)
            for c in contacts if c.id is not None]


async def merge_contacts(db: Database, source_id: int, target_id: int, *, actor: str,
                         reason: str) -> None:
    """Join ``source_id`` into ``target_id`` (accounts, deals, consents), audited with ``reason``."""
    why = _reason(reason)
    async with db.transaction() as session:
        try:
            await ContactRepository(session).merge(source_id, target_id)
        except StoreError:
            raise IdentityActionError("Объединить можно только два разных существующих "
                                      "контакта, ещё не удалённых и не объединённых.") from None
        await AuditRepository(session).add(actor, "contact.merged", f"contact:{target_id}",
                                           {"source": source_id, "target": target_id,
                                            "reason": why})


async def erase_by_phone(db: Database, phone: str, *, actor: str, reason: str,
                         managers_channel: str | None = None) -> ErasureReport:
    """Erase every contact that gave ``phone`` (a request received outside the chat), audited."""
    why, normal = _reason(reason), _phone(phone)
    async with db.transaction() as session:
        contacts = await ContactRepository(session).with_phone(normal)
        ids = tuple(c.id for c in contacts if c.id is not None)
        if not ids:
            raise IdentityActionError("Контактов с этим номером нет.")
        report = await erase_customer(session, actor=actor, contact_ids=ids,
                                      managers_channel=managers_channel)
        await AuditRepository(session).add(actor, "contact.erased_by_phone",
                                           "contacts:" + ",".join(map(str, ids))[:240],
                                           {"reason": why, "contacts": len(ids)})
    remove_files(report.audio_files)
    return report
