"""The Telegram channel on aiogram: polling or webhook in, rate-limited sends out.

aiogram's own loops acknowledge an update before it is handled (polling moves
the offset as soon as updates are fetched; the webhook handler answers 200
first). Here both are driven by hand: an update is fed to the routers, whose
handler returns only after the engine committed it to the inbox, and only
then does polling move the offset past it or the webhook answer 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Mapping, Sequence

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.enums import ChatAction, ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates
from aiogram.types import LinkPreviewOptions, Update
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bots.channels.base import Channel, ChannelContext, DeliveryError, MediaError, MediaTooLarge
from bots.channels.ratelimit import RateLimiter, SendPacer
from bots.channels.telegram_format import keyboard, render, split_text
from bots.channels.telegram_inbound import CHANNEL, Accept, build_router
from bots.channels.telegram_session import bot_session
from bots.config import TelegramSettings
from bots.messages import Attachment, OutboundMessage

log = logging.getLogger(__name__)
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

POLL_TIMEOUT_S = 25
ALLOWED_UPDATES = ["message"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API's getFile refuses bigger files
DOWNLOAD_TIMEOUT_S = 60
WEBHOOK_PATH = "/telegram/webhook"
MAX_WEBHOOK_BYTES = 1024 * 1024  # an update with a long caption is a few KB; the rest is abuse


class TelegramChannel(Channel):
    """One bot: receives customers' messages, sends replies."""

    name = CHANNEL

    def __init__(self, settings: TelegramSettings, accept: Accept,
                 limiter: SendPacer | None = None) -> None:
        if settings.token is None:
            raise ValueError("channels.telegram.token is required")
        self.settings = settings
        self.bot = Bot(settings.token.get_secret_value(), session=bot_session(settings.api_url))
        self.dispatcher = Dispatcher()
        self.dispatcher.include_router(build_router(accept))
        self.limiter = limiter or RateLimiter()
        self._poller: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Register the webhook, or start polling (dropping any webhook first)."""
        if self.settings.mode == "webhook":
            assert self.settings.webhook_url and self.settings.webhook_secret
            await self.bot.set_webhook(self.settings.webhook_url, allowed_updates=ALLOWED_UPDATES,
                                       secret_token=self.settings.webhook_secret.get_secret_value())
            return
        await self.bot.delete_webhook(drop_pending_updates=False)
        self._stopping.clear()
        self._poller = asyncio.create_task(self._poll(), name="telegram-polling")

    async def stop(self) -> None:
        """Stop polling and close the HTTP session."""
        self._stopping.set()
        if self._poller:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await self.bot.session.close()

    # -- inbound ----------------------------------------------------------------

    async def _poll(self) -> None:
        offset: int | None = None
        failures = 0
        while not self._stopping.is_set():
            try:
                updates = await self.bot(GetUpdates(offset=offset, timeout=POLL_TIMEOUT_S,
                                                    allowed_updates=ALLOWED_UPDATES))
                for update in updates:
                    await self._feed(update)
                    # Only now, with the update in the inbox, may Telegram forget it.
                    offset = update.update_id + 1
                failures = 0
            except asyncio.CancelledError:
                raise
            except TelegramUnauthorizedError:
                log.error("Telegram rejected the bot token: check channels.telegram.token")
                return
            except Exception as exc:  # network, Telegram, or our store: retry, never skip
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.warning("Telegram polling failed (%s); retrying in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)

    async def _feed(self, update: Update) -> None:
        """Hand one update to the routers; a malformed one is skipped after a few tries.

        Store failures propagate (the update is retried, never skipped); an
        update our code cannot read at all would otherwise block every later one.
        """
        try:
            await self.dispatcher.feed_update(self.bot, update)
        except ValidationError:
            log.exception("Telegram update %s cannot be read; skipped", update.update_id)

    def routes(self) -> Sequence[BaseRoute]:
        """The webhook route, in webhook mode only."""
        if self.settings.mode != "webhook":
            return ()
        return [Route(WEBHOOK_PATH, self._webhook_route, methods=["POST"])]

    def body_limits(self) -> Mapping[str, int]:
        """Updates are small: a bigger body is refused before it is buffered."""
        return {WEBHOOK_PATH: MAX_WEBHOOK_BYTES}

    async def _webhook_route(self, request: Request) -> Response:
        secret = request.headers.get(SECRET_HEADER)
        if not self.secret_ok(secret):
            return PlainTextResponse("rejected", status_code=401)  # before a byte of the body is read
        body = await request.body()  # at most MAX_WEBHOOK_BYTES: the web app's body limit
        status = await self.handle_webhook(body, secret)
        return PlainTextResponse("ok" if status == 200 else "rejected", status_code=status)

    def secret_ok(self, header: str | None) -> bool:
        """Constant-time check of the webhook secret header."""
        secret = self.settings.webhook_secret
        if secret is None or header is None:
            return False
        return hmac.compare_digest(header.encode(), secret.get_secret_value().encode())

    async def handle_webhook(self, body: bytes, header: str | None) -> int:
        """HTTP status for one webhook call: 401 without the secret, 200 once stored."""
        if not self.secret_ok(header):
            return 401
        try:
            update = Update.model_validate_json(body, context={"bot": self.bot})
        except ValueError:
            return 400
        await self._feed(update)
        return 200

    # -- outbound ---------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> None:
        """Deliver one message in ≤4096-character parts, paced per chat and overall."""
        chat_id = int(message.dialog_key)
        parts = render(message)
        markup = keyboard(message)
        for n, part in enumerate(parts):
            await self.limiter.wait(message.dialog_key)
            try:
                await self._send_part(chat_id, part, markup if n == len(parts) - 1 else None,
                                      int(message.thread) if message.thread else None)
            except DeliveryError as exc:
                if n:  # the customer has the first parts: retry only the rest
                    rest = "\n\n".join(split_text(message.text)[n:])
                    exc.remaining = message.model_copy(update={"text": rest})
                raise

    async def _send_part(self, chat_id: int, text: str, markup: object, thread: int | None) -> None:
        try:
            # No link previews: Telegram's servers would fetch every link the bot sends,
            # the one-time link to the web chat among them.
            await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                        reply_markup=markup, message_thread_id=thread,  # type: ignore[arg-type]
                                        link_preview_options=_NO_PREVIEW)
        except TelegramRetryAfter as exc:
            raise DeliveryError(str(exc), retry_after=float(exc.retry_after), throttled=True) from exc
        except TelegramForbiddenError as exc:
            raise DeliveryError(str(exc), permanent=True) from exc
        except TelegramBadRequest as exc:
            permanent = "chat not found" in str(exc).lower() or "user is deactivated" in str(exc).lower()
            raise DeliveryError(str(exc), permanent=permanent) from exc
        except TelegramNetworkError as exc:
            raise DeliveryError(str(exc)) from exc

    async def send_typing(self, dialog_key: str) -> None:
        """«печатает…» while the agent works; failures do not matter."""
        with contextlib.suppress(Exception):
            await self.bot.send_chat_action(int(dialog_key), ChatAction.TYPING)

    # -- media --------------------------------------------------------------------

    async def fetch_media(self, attachment: Attachment, *, max_bytes: int | None = None) -> bytes:
        """getFile, then download; refused before downloading when the file is too big."""
        if not attachment.media_ref:
            raise MediaError("the attachment has no file_id")
        limit = min(max_bytes or DOWNLOAD_LIMIT, DOWNLOAD_LIMIT)
        _refuse_over(attachment.size_bytes, limit)
        try:
            file = await self.bot.get_file(attachment.media_ref)
        except TelegramBadRequest as exc:
            if "too big" in str(exc).lower():
                raise MediaTooLarge(str(exc), limit=limit) from exc
            raise MediaError(str(exc)) from exc
        except (TelegramNetworkError, TelegramRetryAfter) as exc:
            raise MediaError(str(exc)) from exc
        _refuse_over(file.file_size, limit)
        if not file.file_path:
            raise MediaError("getFile returned no file_path")
        try:
            return await self._download(file.file_path, limit)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MediaError(f"download failed: {type(exc).__name__}: {exc}") from exc

    async def _download(self, file_path: str, limit: int) -> bytes:
        """The file's bytes, stopping as soon as they pass `limit` (the size may be unknown)."""
        if self.bot.session.api.is_local:  # a local Bot API server hands out paths on its disk
            buffer = await self.bot.download_file(file_path, timeout=DOWNLOAD_TIMEOUT_S)
            data = buffer.read() if buffer else b""
            _refuse_over(len(data), limit)
            return data
        url = self.bot.session.api.file_url(self.bot.token, file_path)
        received = bytearray()
        stream = self.bot.session.stream_content(url, timeout=DOWNLOAD_TIMEOUT_S, raise_for_status=True)
        async with contextlib.aclosing(stream):
            async for chunk in stream:
                received += chunk
                _refuse_over(len(received), limit)
        return bytes(received)


def _refuse_over(size: int | None, limit: int) -> None:
    if size is not None and size > limit:
        raise MediaTooLarge(f"{size} bytes is over the {limit}-byte limit", limit=limit)


def build(context: ChannelContext) -> list[Channel]:
    """The registry's factory: the bot, and the managers' desk when a forum is configured.

    Both share one bot and one rate limiter (Telegram's limits are per bot).
    """
    from bots.channels.telegram_managers import TelegramManagersDesk

    settings = context.settings.channels.telegram
    # The bot's id (the token's part before the colon) names it; the secret part stays out of Redis.
    bot_id = settings.token.get_secret_value().split(":", 1)[0] if settings.token else ""
    limiter = context.pacer(f"telegram:{bot_id}", global_per_s=settings.sends_per_s)
    channel = TelegramChannel(settings, context.accept, limiter)
    if settings.managers_chat_id is None:
        return [channel]
    desk = TelegramManagersDesk(channel.bot, settings.managers_chat_id, context.db,
                                context.handoff, limiter)
    channel.dispatcher.include_router(desk.router())
    return [channel, desk]
