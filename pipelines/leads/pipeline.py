"""The lead pipeline: extract → validate → score → store → push, inside the caller's transaction.

``LeadPipeline.process`` runs in the transaction that stores the reply telling
the customer «заявка принята», so the deal, its CRM event and the reply are
committed together or not at all. Nothing here talks to the network: "push"
means queueing the event in ``crm_events``; ``CrmDispatcher`` delivers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pipelines.leads.distribute import ManagerPicker
from pipelines.leads.extract import LeadData, LeadInput, Verdict, extract, validate
from pipelines.leads.payload import CREATED, UPDATED, deal_event, idempotency_key
from pipelines.leads.score import Scorer, deal_facts
from store.audit import AuditRepository
from store.leads import ConsentRecord, Contact, Deal, DealStage
from store.repositories import (
    ConsentRepository,
    ContactRepository,
    CrmEventRepository,
    DealRepository,
)


@dataclass(frozen=True)
class LeadOutcome:
    """What processing a lead did: the deal (if any), whether it changed, the queued event."""

    verdict: Verdict
    deal_id: int | None = None
    created: bool = False
    changed: bool = False
    event_id: int | None = None


class LeadPipeline:
    """Turns completed lead forms into deals and CRM events."""

    def __init__(self, scorer: Scorer | None = None, picker: ManagerPicker | None = None,
                 actor: str = "bot") -> None:
        """Score with ``scorer``, assign with ``picker``; audit entries name ``actor``."""
        self.scorer = scorer or Scorer()
        self.picker = picker or ManagerPicker()
        self.actor = actor

    async def record_consent(self, session: AsyncSession, *, channel: str, version: str,
                             dialog_id: int | None, message_id: int | None) -> ConsentRecord:
        """Record that the customer agreed to the processing text ``version`` just now."""
        record = await ConsentRepository(session).add(
            channel, version, dialog_id=dialog_id, message_id=message_id)
        await AuditRepository(session).add(
            self.actor, "consent.given", f"dialog:{dialog_id}",
            {"consent_id": record.id, "version": version, "channel": channel})
        return record

    async def process(self, session: AsyncSession, lead: LeadInput) -> LeadOutcome:
        """Store (or update) the deal of a completed lead form and queue its CRM event.

        A lead without consent or without a usable phone stores nothing personal:
        only an audit entry saying why it was refused.
        """
        data = extract(lead)
        verdict = validate(lead, data)
        if not verdict.accepted:
            await AuditRepository(session).add(
                self.actor, "lead.rejected", f"dialog:{lead.dialog_id}",
                {"reason": verdict.reason, "role": lead.role_id, "dropped": list(data.dropped)})
            return LeadOutcome(verdict)
        assert data.phone is not None
        # The account that filled the form owns the contact; the phone it typed is
        # an attribute of that contact, never a key into someone else's.
        contact, contact_changed = await ContactRepository(session).of_identity(
            lead.channel, lead.user_ref, data.phone, data.name,
            phone_verified=data.phone in lead.verified_phones)
        assert contact.id is not None
        consent = await self._consent(session, lead, contact)
        deal = await DealRepository(session).open_for(contact.id, data.product)
        if deal is None:
            deal = await self._open(session, lead, data, verdict, contact, consent)
            return await self._push(session, verdict, deal, contact, consent, CREATED)
        changed = await self._update(session, deal, lead, data, verdict, consent)
        if contact_changed and not changed:
            await DealRepository(session).bump(deal)
            changed = True
        if not changed:
            return LeadOutcome(verdict, deal.id)
        return await self._push(session, verdict, deal, contact, consent, UPDATED)

    async def _consent(self, session: AsyncSession, lead: LeadInput, contact: Contact) -> ConsentRecord:
        """The dialog's consent record, linked to the contact (recorded now if it was missed)."""
        consents = ConsentRepository(session)
        record = await consents.latest_for_dialog(lead.dialog_id) if lead.dialog_id else None
        if record is None:
            assert lead.consent_version is not None
            record = await consents.add(lead.channel, lead.consent_version, dialog_id=lead.dialog_id,
                                        message_id=lead.message_id)
        assert contact.id is not None
        await consents.link(record, contact.id)
        return record

    async def _open(self, session: AsyncSession, lead: LeadInput, data: LeadData, verdict: Verdict,
                    contact: Contact, consent: ConsentRecord) -> Deal:
        fields: dict[str, Any] = _values(data) | {
            "channel": lead.channel, "role_id": lead.role_id, "dialog_id": lead.dialog_id,
            "consent_id": consent.id, "details": dict(data.details),
            "stage": DealStage.QUALIFIED if verdict.qualified else DealStage.NEW,
            "manager": await self.picker.pick(session, data.product),
        }
        fields["score"] = self.scorer.score(deal_facts(None, product=data.product, **fields))
        assert contact.id is not None
        return await DealRepository(session).add(contact.id, data.product, **fields)

    async def _update(self, session: AsyncSession, deal: Deal, lead: LeadInput, data: LeadData,
                      verdict: Verdict, consent: ConsentRecord) -> bool:
        """A returning customer: newer answers win, answers not given again are kept."""
        deals = DealRepository(session)
        material: dict[str, Any] = _values(data)
        if data.details:
            material["details"] = {**deal.details, **data.details}
        if verdict.qualified and deal.stage == DealStage.NEW:
            material["stage"] = DealStage.QUALIFIED
        material["score"] = self.scorer.score(deal_facts(deal, **material))
        changed = await deals.apply(deal, material)
        links: dict[str, Any] = {"channel": lead.channel, "role_id": lead.role_id,
                                 "dialog_id": lead.dialog_id, "consent_id": consent.id}
        if deal.manager is None:
            links["manager"] = await self.picker.pick(session, data.product)
        await deals.apply(deal, links, versioned=False)
        return changed

    async def _push(self, session: AsyncSession, verdict: Verdict, deal: Deal, contact: Contact,
                    consent: ConsentRecord, event: str) -> LeadOutcome:
        """Queue the deal's new version for the CRM and note it in the audit log."""
        assert deal.id is not None
        key = idempotency_key(deal, event)
        queued = await CrmEventRepository(session).add(
            deal.id, event, deal_event(event, key, deal, contact, consent), key)
        await AuditRepository(session).add(
            self.actor, event, f"deal:{deal.id}",
            {"version": deal.version, "stage": str(deal.stage), "score": deal.score,
             "manager": deal.manager, "dialog_id": deal.dialog_id})
        return LeadOutcome(verdict, deal.id, created=event == CREATED, changed=True, event_id=queued.id)


def _values(data: LeadData) -> dict[str, Any]:
    """The deal columns a lead gives a value for (a skipped question gives none)."""
    values = {"amount_minor": data.amount_minor, "currency": data.currency,
              "term_months": data.term_months, "city": data.city}
    return {k: v for k, v in values.items() if v is not None}
