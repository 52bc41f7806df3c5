"""Telegram updates → `InboundMessage`, with aiogram routers.

Handlers only translate and hand over: a customer's update goes to the
engine's durable inbox (the handler returns after the commit, and only then
is the update acknowledged); a manager's message in the managers' forum goes
to the managers' desk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC

from aiogram import F, Router
from aiogram.types import Message, Update

from bots.messages import MAX_TEXT_CHARS, Attachment, InboundMessage

CHANNEL = "telegram"

Accept = Callable[[InboundMessage], Awaitable[object]]


def build_router(accept: Accept) -> Router:
    """A fresh router for customers' private chats (a router can be attached to one dispatcher only).

    The managers' forum has its own router (`TelegramManagersDesk.router`).
    """
    router = Router(name="telegram")

    @router.message(F.chat.type == "private")
    async def customer(message: Message, event_update: Update) -> None:
        await accept(to_inbound(message, event_update.update_id))

    return router


def to_inbound(message: Message, update_id: int) -> InboundMessage:
    """The channel-neutral form of a private Telegram message."""
    user = message.from_user
    text = message.text or message.caption or ""
    return InboundMessage(
        channel=CHANNEL,
        external_update_id=str(update_id or f"m{message.chat.id}:{message.message_id}"),
        external_message_id=str(message.message_id),
        dialog_key=str(message.chat.id),
        user_ref=str(user.id if user else message.chat.id),
        text=text[:MAX_TEXT_CHARS],
        attachments=_attachments(message),
        received_at=message.date.astimezone(UTC),
        raw={"first_name": user.first_name if user else None,
             "username": user.username if user else None},
    )


def _attachments(message: Message) -> tuple[Attachment, ...]:
    if message.voice:
        v = message.voice
        return (Attachment(kind="voice", media_ref=v.file_id, mime_type=v.mime_type or "audio/ogg",
                           duration_s=v.duration, size_bytes=v.file_size),)
    if message.audio:
        a = message.audio
        return (Attachment(kind="audio", media_ref=a.file_id, mime_type=a.mime_type,
                           duration_s=a.duration, size_bytes=a.file_size),)
    if message.contact:
        c = message.contact
        mine = message.from_user is not None and c.user_id == message.from_user.id
        own = c.user_id is None or mine
        # Only a contact of the sender's own Telegram account proves the number is theirs
        # (Telegram verified it); one typed into a contact card proves nothing.
        return (Attachment(kind="contact", phone=c.phone_number if own else None,
                           name=c.first_name, verified=mine),)
    if message.document:
        d = message.document
        return (Attachment(kind="file", media_ref=d.file_id, mime_type=d.mime_type,
                           size_bytes=d.file_size, name=d.file_name),)
    if message.photo:
        p = message.photo[-1]
        return (Attachment(kind="image", media_ref=p.file_id, size_bytes=p.file_size),)
    return ()
