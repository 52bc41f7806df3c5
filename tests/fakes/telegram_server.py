"""A loopback fake of the Telegram Bot API, spoken the way aiogram speaks it.

Tests run the product's real aiogram ``Bot``/``Dispatcher`` against it::

    async with FakeBotAPI() as tg:
        session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
        bot = Bot(tg.token, session=session)
        ...  # start polling
        tg.push_text(42, "Привет")
        [reply] = await tg.wait_sent(1)

Method calls arrive at ``/bot{token}/{method}`` as multipart, urlencoded or JSON
bodies; answers are ``{"ok": true, "result": ...}`` or Telegram's error shape.
Updates pushed by the test are served by ``getUpdates`` with real offset and
long-poll semantics; ``post_webhook`` delivers them to a webhook route instead.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import aiohttp
from aiohttp import web

from tests.fakes._server import LoopbackServer
from tests.fakes._telegram_format import FormattingError, render

__all__ = ["DEFAULT_TOKEN", "FakeBotAPI", "TelegramError"]

DEFAULT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_INT_RE = re.compile(r"-?\d+")

MAX_MESSAGE_CHARS = 4096
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses bigger files
GROUP_USER_ID = 1001  # sender of group messages when the test names none
FIRST_TOPIC_THREAD_ID = 1000

# Form fields arrive as strings; these are decoded the way the Bot API reads them.
_JSON_FIELDS = frozenset(
    {
        "allowed_updates",
        "caption_entities",
        "commands",
        "entities",
        "link_preview_options",
        "media",
        "reaction",
        "reply_markup",
        "reply_parameters",
        "results",
        "scope",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "duration",
        "from_chat_id",
        "icon_color",
        "limit",
        "max_connections",
        "message_id",
        "message_thread_id",
        "offset",
        "reply_to_message_id",
        "timeout",
        "user_id",
        "cache_time",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "allow_sending_without_reply",
        "disable_notification",
        "disable_web_page_preview",
        "drop_pending_updates",
        "protect_content",
        "show_alert",
    }
)

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# What getUpdates delivers when allowed_updates is empty or was never given.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_TOPIC_COLORS = frozenset({7322096, 16766590, 13338331, 9367192, 16749490, 16478047})

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: (
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    ),
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

Params: TypeAlias = dict[str, Any]
_Handler: TypeAlias = Callable[[Params], Awaitable[Any]]


class TelegramError(Exception):
    """A Bot API error answer: ``error_code``, ``description`` and ``retry_after``."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def response(self) -> web.Response:
        """The HTTP answer in the Bot API's error shape."""
        payload: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            payload["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(payload, status=self.error_code)


@dataclass
class _StoredFile:
    data: bytes
    file_path: str
    file_size: int


@dataclass
class _Failure:
    error: TelegramError
    times: int


class FakeBotAPI(LoopbackServer):
    """Loopback Bot API server with recorded calls and scriptable updates/failures.

    :param token: the only token accepted (``123456:ABC-DEF...`` form); others get 401.
    :param username: the bot's username returned by ``getMe``.
    :param first_name: the bot's display name returned by ``getMe``.
    :param strict_formatting: reject ``HTML``/``MarkdownV2`` text that Telegram would
        refuse to parse (400 ``can't parse entities``).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = "sovetnik_test_bot",
        first_name: str = "Советник",
        strict_formatting: bool = True,
    ) -> None:
        if not _TOKEN_RE.fullmatch(token):
            raise ValueError(f"not a bot token (expected '123456:ABC-DEF...'): {token!r}")
        super().__init__()
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.first_name = first_name
        self.strict_formatting = strict_formatting

        self.calls: list[str] = []
        self.requests: list[tuple[str, Params]] = []
        self.sent: list[dict[str, Any]] = []
        self.actions: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.deleted: list[dict[str, Any]] = []
        self.callback_answers: list[Params] = []
        self.topics: list[dict[str, Any]] = []
        self.downloads: list[str] = []
        self.commands: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {"url": ""}
        self.confirmed_offset = 0
        self.allowed_updates: list[str] = []

        self._updates: list[dict[str, Any]] = []
        self._last_update_id = 0
        self._message_ids = itertools.count(1)
        self._thread_ids = itertools.count(FIRST_TOPIC_THREAD_ID)
        self._callback_ids = itertools.count(1)
        self._poll_generation = 0
        self._files: dict[str, _StoredFile] = {}
        self._chats: dict[int | str, dict[str, Any]] = {}
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._failures: defaultdict[str, deque[_Failure]] = defaultdict(deque)
        self._methods = self._method_table()

    # ================================================================= test API

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` — pass to ``TelegramAPIServer.from_base``."""
        return self.root_url

    @property
    def me(self) -> dict[str, Any]:
        """The bot's ``User`` object as ``getMe`` returns it."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates pushed but not yet confirmed by the bot."""
        return list(self._updates)

    def sent_to(self, chat_id: int | str) -> list[dict[str, Any]]:
        """The recorded ``sendMessage`` calls addressed to ``chat_id``."""
        return [message for message in self.sent if message["chat_id"] == chat_id]

    def params_of(self, method: str) -> list[Params]:
        """Decoded parameters of every call to ``method`` (case-insensitive), in order."""
        return [params for name, params in self.requests if name.lower() == method.lower()]

    def add_file(
        self,
        file_id: str,
        data: bytes,
        file_path: str | None = None,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        """Register a file for ``getFile`` and download; returns its ``File`` object.

        ``file_size`` may claim more than ``len(data)`` to exercise size limits
        without allocating the bytes.
        """
        path = file_path or f"files/file_{len(self._files) + 1}"
        size = len(data) if file_size is None else file_size
        self._files[file_id] = _StoredFile(data=data, file_path=path, file_size=size)
        return self._file_object(file_id)

    def fail_next(
        self,
        method: str,
        error_code: int = 429,
        retry_after: int = 1,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``error_code``.

        429 carries ``parameters.retry_after``; descriptions default to Telegram's
        wording (403 → ``Forbidden: bot was blocked by the user``, ...).
        """
        template = description or _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        failure = TelegramError(
            error_code,
            template.format(retry_after=retry_after),
            retry_after if error_code == 429 else None,
        )
        self._failures[method.lower()].append(_Failure(failure, times))

    async def wait_sent(
        self, n: int = 1, timeout: float = 5.0, *, chat_id: int | str | None = None
    ) -> list[dict[str, Any]]:
        """Wait until at least ``n`` messages were sent (to ``chat_id`` if given).

        Returns the matching recorded messages; raises ``AssertionError`` listing
        everything that was sent when the timeout passes first.
        """

        def matching() -> list[dict[str, Any]]:
            return self.sent if chat_id is None else self.sent_to(chat_id)

        if not await self._wait_until(lambda: len(matching()) >= n, timeout):
            where = "" if chat_id is None else f" to chat {chat_id}"
            sent = [(m["chat_id"], m["text"]) for m in self.sent]
            raise AssertionError(
                f"expected {n} sendMessage call(s){where} within {timeout}s; sent: {sent!r}; "
                f"calls: {self.calls!r}"
            )
        return matching()

    async def wait_calls(self, method: str, n: int = 1, timeout: float = 5.0) -> list[Params]:
        """Wait until ``method`` was called ``n`` times; returns its parameters."""
        if not await self._wait_until(lambda: len(self.params_of(method)) >= n, timeout):
            raise AssertionError(f"expected {n} {method} call(s) within {timeout}s; calls: {self.calls!r}")
        return self.params_of(method)

    async def wait_confirmed(self, update_id: int, timeout: float = 5.0) -> None:
        """Wait until the bot confirmed ``update_id`` (a later ``getUpdates`` offset)."""
        if not await self._wait_until(lambda: self.confirmed_offset > update_id, timeout):
            raise AssertionError(
                f"update {update_id} not confirmed within {timeout}s "
                f"(confirmed offset {self.confirmed_offset})"
            )

    # ----------------------------------------------------------------- updates

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for ``getUpdates``; assigns ``update_id`` when missing."""
        self._assign_update_id(update)
        self._updates.append(update)
        self._notify()
        return update

    def push_text(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        first_name: str = "Иван",
        message_thread_id: int | None = None,
        chat_type: str = "private",
    ) -> dict[str, Any]:
        """Queue a text message from a user; returns the update."""
        return self.push_update(
            self.text_update(chat_id, text, user_id, first_name, message_thread_id, chat_type)
        )

    def push_command(
        self,
        chat_id: int,
        command: str,
        user_id: int | None = None,
        first_name: str = "Иван",
    ) -> dict[str, Any]:
        """Queue a command such as ``/start`` or ``/start deep-link-payload``."""
        return self.push_update(self.command_update(chat_id, command, user_id, first_name))

    def push_voice(
        self,
        chat_id: int,
        file_id: str,
        duration: int,
        mime_type: str = "audio/ogg",
        file_size: int | None = None,
        user_id: int | None = None,
        first_name: str = "Иван",
    ) -> dict[str, Any]:
        """Queue a voice message; ``file_size`` defaults to the registered file's size."""
        return self.push_update(
            self.voice_update(chat_id, file_id, duration, mime_type, file_size, user_id, first_name)
        )

    def push_contact(
        self,
        chat_id: int,
        phone_number: str,
        first_name: str = "Иван",
        user_id: int | None = None,
        sender_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a shared contact (see :meth:`contact_update`)."""
        return self.push_update(self.contact_update(chat_id, phone_number, first_name, user_id, sender_id))

    def push_callback(
        self,
        chat_id: int,
        data: str,
        message_id: int | None = None,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue an inline-button press (``callback_query``)."""
        return self.push_update(self.callback_update(chat_id, data, message_id, user_id))

    def text_update(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        first_name: str = "Иван",
        message_thread_id: int | None = None,
        chat_type: str = "private",
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Build (without queuing) a text-message update, e.g. for :meth:`post_webhook`."""
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._message_update(chat_id, content, user_id, first_name, message_thread_id, chat_type)

    def command_update(
        self,
        chat_id: int,
        command: str,
        user_id: int | None = None,
        first_name: str = "Иван",
    ) -> dict[str, Any]:
        """Build a command message with its ``bot_command`` entity."""
        if not command.startswith("/"):
            raise ValueError(f"a command starts with '/': {command!r}")
        word = command.split(maxsplit=1)[0]
        entity = {"type": "bot_command", "offset": 0, "length": _utf16_len(word)}
        return self.text_update(chat_id, command, user_id, first_name, entities=[entity])

    def voice_update(
        self,
        chat_id: int,
        file_id: str,
        duration: int,
        mime_type: str = "audio/ogg",
        file_size: int | None = None,
        user_id: int | None = None,
        first_name: str = "Иван",
    ) -> dict[str, Any]:
        """Build a voice-message update referring to ``file_id``."""
        voice: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "duration": duration,
            "mime_type": mime_type,
        }
        if file_size is None and file_id in self._files:
            file_size = self._files[file_id].file_size
        if file_size is not None:
            voice["file_size"] = file_size
        return self._message_update(chat_id, {"voice": voice}, user_id, first_name)

    def contact_update(
        self,
        chat_id: int,
        phone_number: str,
        first_name: str = "Иван",
        user_id: int | None = None,
        sender_id: int | None = None,
    ) -> dict[str, Any]:
        """Build a contact-sharing update.

        ``sender_id`` (who shared it) defaults to the chat's user and ``user_id`` (whose
        contact it is) to the sender: the user shared their own number. Pass another
        ``user_id`` to share someone else's contact.
        """
        sender = sender_id if sender_id is not None else self._default_user(chat_id)
        contact = {
            "phone_number": phone_number,
            "first_name": first_name,
            "user_id": user_id if user_id is not None else sender,
        }
        return self._message_update(chat_id, {"contact": contact}, sender, first_name)

    def callback_update(
        self,
        chat_id: int,
        data: str,
        message_id: int | None = None,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """Build a ``callback_query`` for a button under one of the bot's messages."""
        user = self._user(chat_id, user_id, "Иван")
        message = self._find_message(chat_id, message_id) or self._bot_message(chat_id, "…")
        return {
            "callback_query": {
                "id": str(next(self._callback_ids)),
                "from": user,
                "message": message,
                "chat_instance": f"ci{chat_id}",
                "data": data,
            }
        }

    async def post_webhook(self, url: str, update: dict[str, Any], secret_token: str | None = None) -> int:
        """POST ``update`` to the product's webhook route as Telegram does; returns the status."""
        self._assign_update_id(update)
        headers = {} if secret_token is None else {"X-Telegram-Bot-Api-Secret-Token": secret_token}
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json=update, headers=headers) as response,
        ):
            await response.read()
            return response.status

    # ================================================================= protocol

    def _setup_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_download)

    def _method_table(self) -> dict[str, tuple[str, _Handler]]:
        handlers: dict[str, _Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
            "createForumTopic": self._create_forum_topic,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "editMessageText": self._edit_message_text,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "close": self._true,
            "logOut": self._true,
        }
        # Telegram matches method names case-insensitively.
        return {name.lower(): (name, handler) for name, handler in handlers.items()}

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return TelegramError(401, "Unauthorized").response()
        sent_name = request.match_info["method"]
        name, handler = self._methods.get(sent_name.lower(), (sent_name, None))
        try:
            params = await _read_params(request)
            self.calls.append(name)
            self.requests.append((name, params))
            self._notify()
            self._raise_injected_failure(name)
            if handler is None:
                raise TelegramError(404, "Not Found: method not found")
            result = await handler(params)
        except TelegramError as exc:
            return exc.response()
        finally:
            self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return TelegramError(401, "Unauthorized").response()
        path = request.match_info["file_path"]
        for stored in self._files.values():
            if stored.file_path == path:
                self.downloads.append(path)
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return TelegramError(404, "Not Found").response()

    def _raise_injected_failure(self, method: str) -> None:
        queue = self._failures.get(method.lower())
        if not queue:
            return
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        raise failure.error

    # ----------------------------------------------------------------- methods

    async def _true(self, params: Params) -> bool:
        return True

    async def _get_me(self, params: Params) -> dict[str, Any]:
        return self.me

    async def _get_updates(self, params: Params) -> list[dict[str, Any]]:
        if self.webhook["url"]:
            raise TelegramError(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"] or [])
        self._confirm(int(params.get("offset") or 0))
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(int(params.get("timeout") or 0), 0)
        # A newer getUpdates ends this one with 409, as on the real server.
        self._poll_generation += 1
        generation = self._poll_generation
        await self._wait_until(
            lambda: bool(self._deliverable()) or self._poll_generation != generation, timeout
        )
        if self._poll_generation != generation:
            raise TelegramError(409, _DEFAULT_DESCRIPTIONS[409])
        return self._deliverable()[:limit]

    async def _send_message(self, params: Params) -> dict[str, Any]:
        chat_id = _require_chat(params)
        text = str(params.get("text") or "")
        if not text.strip():
            raise TelegramError(400, "Bad Request: message text is empty")
        parse_mode = params.get("parse_mode")
        plain = self._render(text, parse_mode)
        if len(plain) > MAX_MESSAGE_CHARS:
            raise TelegramError(400, "Bad Request: message is too long")
        thread_id = params.get("message_thread_id")
        markup = params.get("reply_markup")
        message = self._bot_message(chat_id, plain, thread_id, markup)
        self.sent.append(
            {
                "chat_id": chat_id,
                "text": text,
                "parse_mode": parse_mode,
                "message_thread_id": thread_id,
                "reply_markup": markup,
                "message_id": message["message_id"],
                "params": params,
            }
        )
        return message

    async def _send_chat_action(self, params: Params) -> bool:
        chat_id = _require_chat(params)
        action = params.get("action")
        if action not in _CHAT_ACTIONS:
            raise TelegramError(400, "Bad Request: wrong parameter action in request")
        self.actions.append(
            {
                "chat_id": chat_id,
                "action": action,
                "message_thread_id": params.get("message_thread_id"),
            }
        )
        return True

    async def _get_file(self, params: Params) -> dict[str, Any]:
        file_id = params.get("file_id")
        if file_id not in self._files:
            raise TelegramError(400, "Bad Request: invalid file_id")
        if self._files[file_id].file_size > MAX_DOWNLOAD_BYTES:
            raise TelegramError(400, "Bad Request: file is too big")
        return self._file_object(file_id)

    async def _create_forum_topic(self, params: Params) -> dict[str, Any]:
        chat_id = _require_chat(params)
        name = str(params.get("name") or "")
        if not 1 <= len(name) <= 128:
            raise TelegramError(400, "Bad Request: TOPIC_TITLE_EMPTY")
        color = params.get("icon_color", 7322096)
        if color not in _TOPIC_COLORS:
            raise TelegramError(400, "Bad Request: TOPIC_COLOR_INVALID")
        topic: dict[str, Any] = {
            "message_thread_id": next(self._thread_ids),
            "name": name,
            "icon_color": color,
        }
        if emoji := params.get("icon_custom_emoji_id"):
            topic["icon_custom_emoji_id"] = emoji
        self.topics.append({"chat_id": chat_id, **topic})
        return topic

    async def _set_webhook(self, params: Params) -> bool:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            raise TelegramError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.fullmatch(str(secret)):
            raise TelegramError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        keys = ("secret_token", "drop_pending_updates", "allowed_updates", "max_connections", "ip_address")
        self.webhook = {"url": url, **{key: params.get(key) for key in keys}}
        return True

    async def _delete_webhook(self, params: Params) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {"url": "", "drop_pending_updates": params.get("drop_pending_updates")}
        return True

    async def _get_webhook_info(self, params: Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for key in ("max_connections", "allowed_updates", "ip_address"):
            if self.webhook.get(key) is not None:
                info[key] = self.webhook[key]
        return info

    async def _edit_message_text(self, params: Params) -> dict[str, Any]:
        chat_id = _require_chat(params)
        message = self._find_message(chat_id, params.get("message_id"))
        if message is None:
            raise TelegramError(400, "Bad Request: message to edit not found")
        text = str(params.get("text") or "")
        plain = self._render(text, params.get("parse_mode"))
        markup = params.get("reply_markup")
        if plain == message.get("text") and _inline(markup) == message.get("reply_markup"):
            raise TelegramError(
                400,
                "Bad Request: message is not modified: specified new "
                "message content and reply markup are exactly the same "
                "as a current content and reply markup of the message",
            )
        message["text"] = plain
        message["edit_date"] = int(time.time())
        message.pop("reply_markup", None)
        if inline := _inline(markup):
            message["reply_markup"] = inline
        self.edits.append(
            {
                "chat_id": chat_id,
                "message_id": message["message_id"],
                "text": text,
                "parse_mode": params.get("parse_mode"),
                "reply_markup": markup,
            }
        )
        return message

    async def _delete_message(self, params: Params) -> bool:
        chat_id = _require_chat(params)
        message_id = int(params.get("message_id") or 0)
        if self._messages.pop((chat_id, message_id), None) is None:
            raise TelegramError(400, "Bad Request: message to delete not found")
        self.deleted.append({"chat_id": chat_id, "message_id": message_id})
        return True

    async def _answer_callback_query(self, params: Params) -> bool:
        if not params.get("callback_query_id"):
            raise TelegramError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        self.callback_answers.append(params)
        return True

    async def _set_my_commands(self, params: Params) -> bool:
        self.commands = list(params.get("commands") or [])
        return True

    async def _get_my_commands(self, params: Params) -> list[dict[str, Any]]:
        return self.commands

    async def _delete_my_commands(self, params: Params) -> bool:
        self.commands = []
        return True

    # ----------------------------------------------------------------- state

    def _assign_update_id(self, update: dict[str, Any]) -> None:
        if "update_id" not in update:
            update["update_id"] = self._last_update_id + 1
        self._last_update_id = max(self._last_update_id, int(update["update_id"]))

    def _confirm(self, offset: int) -> None:
        """Apply getUpdates' ``offset``: confirm older updates, or keep the last -N."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self.confirmed_offset = max(self.confirmed_offset, offset)
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _deliverable(self) -> list[dict[str, Any]]:
        allowed = set(self.allowed_updates)
        return [
            update
            for update in self._updates
            if (kind := _update_kind(update)) in allowed or (not allowed and kind not in _OPT_IN_UPDATES)
        ]

    def _render(self, text: str, parse_mode: str | None) -> str:
        if not self.strict_formatting:
            return text
        try:
            return render(text, parse_mode)
        except FormattingError as exc:
            raise TelegramError(400, f"Bad Request: can't parse entities: {exc}") from exc

    def _file_object(self, file_id: str) -> dict[str, Any]:
        stored = self._files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    def _default_user(self, chat_id: int | str) -> int:
        if isinstance(chat_id, int) and chat_id > 0:
            return chat_id
        return GROUP_USER_ID

    def _user(self, chat_id: int, user_id: int | None, first_name: str) -> dict[str, Any]:
        return {
            "id": user_id if user_id is not None else self._default_user(chat_id),
            "is_bot": False,
            "first_name": first_name,
            "language_code": "ru",
        }

    def _chat(self, chat_id: int | str) -> dict[str, Any]:
        """The chat as remembered from pushed updates, else a plausible default."""
        if chat_id in self._chats:
            return self._chats[chat_id]
        if isinstance(chat_id, int) and chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Иван"}
        if isinstance(chat_id, int):
            return {"id": chat_id, "type": "supergroup", "title": "Тестовая группа"}
        return {"id": -1000000000001, "type": "channel", "title": chat_id, "username": chat_id.lstrip("@")}

    def _message_update(
        self,
        chat_id: int,
        content: dict[str, Any],
        user_id: int | None,
        first_name: str,
        message_thread_id: int | None = None,
        chat_type: str = "private",
    ) -> dict[str, Any]:
        user = self._user(chat_id, user_id, first_name)
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": first_name}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": "Тестовая группа"}
            if message_thread_id is not None:
                chat["is_forum"] = True
        self._chats[chat_id] = chat
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        return {"message": message}

    def _bot_message(
        self,
        chat_id: int | str,
        text: str,
        thread_id: int | None = None,
        markup: Any = None,
    ) -> dict[str, Any]:
        """A ``Message`` sent by the bot, stored so it can be edited or deleted."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": {key: self.me[key] for key in ("id", "is_bot", "first_name", "username")},
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if inline := _inline(markup):
            message["reply_markup"] = inline  # Telegram echoes inline keyboards only
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _find_message(self, chat_id: int | str, message_id: Any) -> dict[str, Any] | None:
        return self._messages.get((chat_id, message_id))


# --------------------------------------------------------------------------- helpers


async def _read_params(request: web.Request) -> Params:
    """Merge query string and body (multipart, urlencoded or JSON) into typed params."""
    raw: dict[str, Any] = dict(request.query)
    if request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError as exc:
                raise TelegramError(400, "Bad Request: can't parse JSON body") from exc
            if not isinstance(body, dict):
                raise TelegramError(400, "Bad Request: JSON body must be an object")
            raw.update(body)
        else:
            form = await request.post()
            raw.update((key, _form_value(value)) for key, value in form.items())
    return {key: _coerce(key, value) for key, value in raw.items()}


def _form_value(value: str | bytes | bytearray | web.FileField) -> Any:
    """A form field as text; an uploaded file as its name, content type and bytes."""
    if not isinstance(value, web.FileField):
        return value
    return {"filename": value.filename, "content_type": value.content_type, "data": value.file.read()}


def _coerce(key: str, value: Any) -> Any:
    """Decode one form field: JSON-serialized objects, integers and booleans."""
    if not isinstance(value, str):
        return value
    if key in _JSON_FIELDS:
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise TelegramError(400, f"Bad Request: can't parse {key} JSON object") from exc
    if key in _INT_FIELDS and _INT_RE.fullmatch(value):
        return int(value)
    if key in _BOOL_FIELDS and value.lower() in {"true", "false", "1", "0"}:
        return value.lower() in {"true", "1"}
    return value


def _require_chat(params: Params) -> int | str:
    chat_id = params.get("chat_id")
    if chat_id is None or chat_id == "":
        raise TelegramError(400, "Bad Request: chat_id is empty")
    return chat_id


def _inline(markup: Any) -> dict[str, Any] | None:
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return markup
    return None


def _update_kind(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _unique_id(file_id: str) -> str:
    # Stable across runs (unlike hash()), like Telegram's own file_unique_id.
    return "u" + hashlib.sha1(file_id.encode()).hexdigest()[:15]


def _utf16_len(text: str) -> int:
    # Telegram measures entity offsets and lengths in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2
