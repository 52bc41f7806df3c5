"""The running product: store, knowledge, agent, engine, outbox and channels, wired once.

`Runtime` is built from settings and handed to the web app; nothing lives in
module globals, so tests build as many as they like and a second process
builds its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agents.agent import Agent
from agents.role_registry import RoleRegistry
from bots import assembly
from bots.channels.base import Channel, ChannelContext
from bots.channels.registry import build_channels
from bots.config import Settings
from bots.engine import ConversationEngine, EngineHooks
from bots.events import LiveEvents, build_live_events
from bots.handoff import HandoffService
from bots.handover import Handover, handover_links
from bots.leads import crm_dispatcher, lead_sink
from bots.locks import build_dialog_lock
from bots.logs import install_redaction
from bots.outbox import OutboxDispatcher
from bots.people import StoreDirectory
from bots.scale import redis_client
from bots.voice import VoiceNotes, voice_pipeline
from knowledge.index import KnowledgeIndex
from pipelines.leads import CrmDispatcher
from pipelines.voice import VoicePipeline
from store.db import Database
from store.models import OutboxItem

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Every long-lived component of one product process."""

    settings: Settings
    db: Database
    index: KnowledgeIndex
    roles: RoleRegistry
    agent: Agent
    engine: ConversationEngine
    handoff: HandoffService
    outbox: OutboxDispatcher
    channels: dict[str, Channel] = field(default_factory=dict)
    voice: VoicePipeline | None = None
    crm: CrmDispatcher | None = None
    handover: Handover | None = None  # one-time links from `redirect` channels to the web chat
    redis: Redis | None = None  # shared with the other processes (`redis.url`), if any
    events: LiveEvents | None = None  # what every process sees at once (web chat frames)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        """Create the components (nothing starts yet)."""
        install_redaction()  # however the product is started, its logs carry no personal data
        db = Database.from_url(settings.store.url.get_secret_value())
        redis = redis_client(settings.redis)
        index = assembly.knowledge_index(settings)
        roles = assembly.role_registry(settings)
        agent = assembly.agent(settings, index, roles, people=StoreDirectory(db))
        channels: dict[str, Channel] = {}
        outbox = OutboxDispatcher(db, channels, claim_s=settings.store.outbox_lease_s)
        voice = voice_pipeline(settings)
        crm = crm_dispatcher(settings, db)

        def queued() -> None:  # a turn may have queued a reply and a CRM event
            outbox.wake()
            crm.wake()

        def replies(items: Sequence[OutboxItem]) -> None:  # a turn's replies, and maybe a CRM event
            outbox.queued(items)
            crm.wake()

        links = handover_links(settings)
        notes = VoiceNotes(voice, channels, min_confidence=settings.voice.min_confidence,
                           max_no_speech_prob=settings.voice.max_no_speech_prob)
        hooks = EngineHooks(on_outbox=queued, on_replies=replies, typing=_typing(channels),
                            transcribe=notes,
                            foreground=voice.text_first.turn,
                            leads=lead_sink(settings, roles),
                            redirect_channels=settings.channels.redirecting(), offers=links)
        engine = ConversationEngine(db, agent, settings.agents.default_role, hooks,
                                    locks=build_dialog_lock(settings, db, redis))
        handoff = HandoffService(db, on_outbox=outbox.wake)
        runtime = cls(settings, db, index, roles, agent, engine, handoff, outbox, channels, voice,
                      crm=crm, handover=Handover(links, engine), redis=redis,
                      events=build_live_events(settings, redis))
        runtime._add_channels()
        return runtime

    def _add_channels(self) -> None:
        """Build every enabled channel through the registry; none is special-cased here."""
        context = ChannelContext(self.settings, self.db, self.engine.accept, self.handoff, self.handover,
                                 events=self.events, redis=self.redis)
        for channel in build_channels(context):
            if channel.name in self.channels:
                raise ValueError(f"two channels are named {channel.name!r}")
            self.channels[channel.name] = channel
            if channel.managers_desk:
                self.engine.hooks.managers_channel = channel.name

    async def start(self) -> None:
        """Migrate the store, answer what was pending, start delivery and channels."""
        await self.db.migrate()
        if self.voice is not None:  # warns once when there is no speech model
            await self.voice.start()
        if self.events is not None:  # subscribed before any socket or reply needs it
            await self.events.start()
        pending = await self.engine.recover()
        if pending:
            log.info("answering %d dialog(s) left pending by the last run", pending)
        if self.settings.scale.lock != "local":  # other processes share the inbox: pick up after them
            self.engine.take_over_periodically(self.settings.scale.take_over_s)
        self.outbox.start()
        if self.crm is not None:
            self.crm.start()
        for channel in self.channels.values():
            await channel.start()

    async def stop(self) -> None:
        """Stop channels first (no new input), then processing and delivery."""
        for channel in self.channels.values():
            await channel.stop()
        await self.engine.close()
        if self.voice is not None:
            await self.voice.close()
        await self.outbox.stop()
        if self.crm is not None:
            await self.crm.stop()
        await self.engine.locks.close()
        if self.events is not None:
            await self.events.close()
        await self.agent.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()


def _typing(channels: dict[str, Channel]) -> Callable[[str, str], Awaitable[None]]:
    async def typing(channel: str, dialog_key: str) -> None:
        target = channels.get(channel)
        if target is not None:
            await target.send_typing(dialog_key)

    return typing
