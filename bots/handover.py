"""One-time links that carry a dialog from a `redirect` channel over to the web chat.

A customer of a foreign messenger (Telegram) who wants to apply is told that
personal data cannot be taken there and gets a link. Following it moves that
very dialog — its history and its parked lead form — to the web chat, where the
form asks for consent and completes; the manager sees one conversation.

The link is signed with the server's secret (itsdangerous: unguessable and
tamper-proof), expires after `channels.webchat.handover_ttl_minutes`, and works
once: it names a random code that the dialog holds until the link is used; a
newer offer replaces the code, so only the latest link works. The stored copy
of the offer holds no working link.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadData, URLSafeTimedSerializer

from agents.turn import DialogState
from bots.config import LawfulChannelsSettings, Settings
from bots.engine import ConversationEngine
from bots.web.auth import session_secret
from bots.web.labels import channel as channel_label
from store.models import Author, Dialog, Direction
from store.repositories import DialogRepository, MessageRepository

log = logging.getLogger(__name__)

ROUTE = "/chat/continue/{token}"
_SALT = "sovetnik.handover"
HIDDEN_LINK = "[одноразовая ссылка]"
WEBCHAT_LINE = ("Продолжить в веб-чате банка — переписка и условия заявки перейдут туда вместе с вами "
                "(ссылка одноразовая, действует {minutes} мин.):\n{url}")
MAX_LINE = "Или напишите боту банка в MAX: {url}"
VK_LINE = "Или напишите боту банка во ВКонтакте: {url}"
NOWHERE_LINE = "Оставить заявку можно на сайте банка или в отделении."
MOVED_TEXT = "Диалог продолжен в веб-чате: клиент перешёл из канала «{origin}» по одноразовой ссылке."


@dataclass(frozen=True)
class Offer:
    """The ways to go on that a lawful-channel offer adds to the agent's reply."""

    code: str    # held by the dialog until the link is used
    sent: str    # what the customer receives (the working link)
    stored: str  # what the dialog's history keeps (the link hidden)


class HandoverLinks:
    """Issues and reads the one-time links of lawful-channel offers."""

    def __init__(self, secret: Callable[[], str], webchat_url: str | None, ttl_minutes: int,
                 lawful: LawfulChannelsSettings) -> None:
        self._secret = secret  # read on first use: building the runtime writes nothing to var/
        self.webchat_url = webchat_url
        self.ttl_minutes = ttl_minutes
        self.lawful = lawful

    def offer(self, dialog_id: int) -> Offer:
        """A fresh code and the offer's lines for dialog `dialog_id`."""
        code = secrets.token_urlsafe(16)
        sent, stored = self._lines(None), self._lines(HIDDEN_LINK)
        if self.webchat_url is not None:
            token = self._signer().dumps({"d": dialog_id, "c": code})
            sent = self._lines(self.webchat_url + ROUTE.format(token=token))
        return Offer(code, sent, stored)

    def read(self, token: str) -> tuple[int, str] | None:
        """`(dialog id, code)` of a genuine, unexpired link; None otherwise."""
        try:
            data = self._signer().loads(token, max_age=self.ttl_minutes * 60)
        except BadData:
            return None
        if not (isinstance(data, dict) and isinstance(data.get("d"), int) and isinstance(data.get("c"), str)):
            return None
        return data["d"], data["c"]

    def _signer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret(), salt=_SALT)

    def _lines(self, link: str | None) -> str:
        lines = []
        if self.webchat_url is not None and link is not None:
            lines.append(WEBCHAT_LINE.format(minutes=self.ttl_minutes, url=link))
        if self.lawful.max:
            lines.append(MAX_LINE.format(url=self.lawful.max))
        if self.lawful.vk:
            lines.append(VK_LINE.format(url=self.lawful.vk))
        if not lines:
            return NOWHERE_LINE
        if self.webchat_url is None:  # nothing to be «or» to
            lines[0] = lines[0].replace("Или напишите", "Напишите", 1)
        return "\n\n".join(lines)


def handover_links(settings: Settings) -> HandoverLinks:
    """The links for `settings`: to the web chat when it is enabled, and the configured MAX/VK bots.

    Signed with the key of the console's session cookies (`server.secret_key`, else
    the one generated into `var/`), under a salt of their own.
    """
    key = settings.server.secret_key
    secret = functools.cache(lambda: session_secret(key.get_secret_value() if key else None,
                                                    settings.path(Path("var"))))
    webchat = settings.channels.webchat
    url = None
    if webchat.enabled:
        server = settings.server
        url = webchat.public_url or (server.public_origins[0] if server.public_origins
                                     else f"http://{server.host}:{server.port}")
    return HandoverLinks(secret, url, webchat.handover_ttl_minutes, settings.leads.lawful_channels)


class Handover:
    """Moves a dialog to the web chat when its link is followed."""

    def __init__(self, links: HandoverLinks, engine: ConversationEngine) -> None:
        self.links = links
        self.engine = engine

    async def usable(self, token: str) -> bool:
        """Whether the link is genuine, unexpired and not used or replaced yet (nothing changes)."""
        return await self._dialog(token) is not None

    async def redeem(self, token: str, channel: str, dialog_key: str) -> bool:
        """Carry the link's dialog over to `(channel, dialog_key)`; False for a used, expired, forged link."""
        dialog = await self._dialog(token)
        found = self.links.read(token)
        if dialog is None or found is None:
            return False
        dialog_id, code = found
        # The dialog's own lock: no turn of it runs (and overwrites its state) meanwhile.
        async with self.engine.dialog_lock(dialog.channel, dialog.dialog_key):
            return await self._move(dialog_id, code, channel, dialog_key)

    async def _dialog(self, token: str) -> Dialog | None:
        """The dialog a usable link names."""
        found = self.links.read(token)
        if found is None:
            return None
        dialog_id, code = found
        async with self.engine.db.session() as session:
            dialog = await DialogRepository(session).get(dialog_id)
        if dialog is None or DialogState.from_json(dialog.state).handover != code:
            return None
        return dialog

    async def _move(self, dialog_id: int, code: str, channel: str, dialog_key: str) -> bool:
        async with self.engine.db.transaction() as session:
            dialogs = DialogRepository(session)
            dialog = await dialogs.get(dialog_id)
            state = DialogState.from_json(dialog.state if dialog is not None else None)
            if dialog is None or state.handover != code:
                return False  # used a moment ago
            origin = dialog.channel
            state.handover = None
            reply = self.engine.agent.carry_over(state, dialog.role_id)
            if not await dialogs.move(dialog, channel, dialog_key, user_ref=dialog_key):
                return False  # another process carried it over first
            messages = MessageRepository(session)
            await messages.add(dialog_id, Direction.OUT, Author.SYSTEM,
                               MOVED_TEXT.format(origin=channel_label(origin)), {"carried_over": origin})
            await messages.add(dialog_id, Direction.OUT, Author.AGENT, reply.text,
                               reply.meta() | {"quick_replies": list(reply.quick_replies)})
            await dialogs.update(dialog, role_id=reply.role, state=reply.state.to_json())
        log.info("dialog %s carried over from %s to %s", dialog_id, origin, channel)
        return True
