"""Leads in the running product: the engine's lead sink and the CRM dispatcher, built from settings.

The sink is where the conversation (agents' `Reply`, `DialogState`) meets the
lead pipeline, which knows nothing of agents: it records the consent on the
turn the customer agrees and hands a completed form over as a `LeadInput`,
inside the engine's reply transaction.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agents.errors import UnknownRole
from agents.leadform import DEFAULT_CONSENT, ConsentText
from agents.role_registry import RoleRegistry
from agents.turn import DialogState, LeadState, Reply
from bots.config import ConfigError, Settings
from knowledge.ru.phones import normalize_phone
from pipelines.leads import (
    CrmDispatcher,
    LeadInput,
    LeadPipeline,
    ManagerPicker,
    RetryPolicy,
    Scorer,
    WebhookClient,
)
from store.db import Database
from store.models import Dialog, Message
from store.repositories import MessageRepository


class EngineLeadSink:
    """The engine's `LeadSink`: consents and completed forms go to the lead pipeline."""

    def __init__(self, pipeline: LeadPipeline, roles: RoleRegistry | None = None,
                 consent_version: str = DEFAULT_CONSENT.version) -> None:
        """Store through `pipeline`; `roles` tell which fields a role requires."""
        self.pipeline = pipeline
        self.roles = roles
        self.consent_version = consent_version

    async def on_turn(self, session: AsyncSession, dialog: Dialog, message: Message, reply: Reply) -> None:
        """After a bot turn, in its transaction: record a fresh consent, store a completed lead."""
        before = DialogState.from_json(dialog.state).lead
        after = reply.state.lead
        if after is not None and after.consent and not (before is not None and before.consent):
            await self.pipeline.record_consent(
                session, channel=dialog.channel, version=after.consent_version or self.consent_version,
                dialog_id=dialog.id, message_id=message.id)
        if reply.lead_completed is not None:
            verified = await _verified_phones(session, dialog)
            await self.pipeline.process(session, self._input(dialog, message, reply.lead_completed,
                                                             verified))

    def _input(self, dialog: Dialog, message: Message, lead: LeadState,
               verified_phones: frozenset[str]) -> LeadInput:
        role_id = lead.role_id or dialog.role_id
        return LeadInput(
            product=lead.product, role_id=role_id, fields=dict(lead.fields), consent=lead.consent,
            consent_version=lead.consent_version, channel=dialog.channel, user_ref=dialog.user_ref,
            dialog_id=dialog.id, message_id=message.id, required=self._required(role_id),
            verified_phones=verified_phones)

    def _required(self, role_id: str) -> frozenset[str]:
        """The fields a role's form requires; the phone alone when the role is gone."""
        try:
            form = self.roles.get(role_id).lead_form if self.roles else None
        except UnknownRole:
            form = None
        if form is None:
            return frozenset({"phone"})
        return frozenset(f.name for f in form.fields if f.required)


async def _verified_phones(session: AsyncSession, dialog: Dialog) -> frozenset[str]:
    """Phones the customer shared as their own messenger contact in this dialog (E.164)."""
    assert dialog.id is not None
    found = set()
    for stored in await MessageRepository(session).all_for_dialog(dialog.id):
        for attachment in stored.meta.get("attachments") or ():
            if isinstance(attachment, dict) and attachment.get("kind") == "contact" \
                    and attachment.get("verified") and attachment.get("phone"):
                phone = normalize_phone(str(attachment["phone"]))
                if phone:
                    found.add(phone)
    return frozenset(found)


def consent_text(settings: Settings) -> ConsentText:
    """The processing text and version the lead form shows (`leads.consent_*`)."""
    leads = settings.leads
    if leads.consent_text is not None:
        assert leads.consent_version is not None  # the settings validator insists
        return ConsentText(leads.consent_text, leads.consent_version)
    if leads.consent_version not in (None, DEFAULT_CONSENT.version):
        raise ConfigError(
            f"leads.consent_version: {leads.consent_version!r} не совпадает с версией встроенного "
            f"текста согласия ({DEFAULT_CONSENT.version}). Задайте новый текст в leads.consent_text "
            f"или верните версию {DEFAULT_CONSENT.version}.", "leads.consent_version")
    return DEFAULT_CONSENT


def lead_pipeline(settings: Settings) -> LeadPipeline:
    """The pipeline with the configured scoring and distribution."""
    leads = settings.leads
    return LeadPipeline(Scorer(leads.scoring.base, leads.scoring.rules),
                        ManagerPicker(leads.distribution, leads.managers))


def lead_sink(settings: Settings, roles: RoleRegistry | None) -> EngineLeadSink:
    """The engine's lead sink for these settings."""
    return EngineLeadSink(lead_pipeline(settings), roles, consent_text(settings).version)


def crm_dispatcher(settings: Settings, db: Database) -> CrmDispatcher:
    """The CRM outbox's delivery loop; idle when no webhook URL is configured."""
    crm = settings.leads.crm
    client = None
    if crm.url and crm.secret is not None:
        client = WebhookClient(crm.url, crm.secret.get_secret_value(), crm.timeout_s)
    policy = RetryPolicy(crm.max_attempts, crm.backoff_base_s, crm.backoff_cap_s)
    return CrmDispatcher(db, client, policy, poll_s=crm.poll_s)
