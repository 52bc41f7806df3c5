"""A thin client of the VK API for a community bot, on aiohttp.

Methods are POSTed as forms to `{api_url}/method/{name}` with the token in the
body (never in a URL, so it stays out of proxies' and our logs). VK answers
`{"response": ...}` or `{"error": {"error_code", "error_msg"}}`; error 6 (too
many requests per second) is retried here after a short, growing pause.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from bots.channels.media import download_bounded
from bots.config import VkSettings

log = logging.getLogger(__name__)

TOO_MANY_REQUESTS = 6
AUTH_FAILED = 5
FLOOD_CONTROL = 9
#: The user cannot receive the bot's messages (blocked it, privacy, never wrote).
PERMANENT = frozenset({7, 900, 901, 902})
RATE_RETRIES = 3
RATE_PAUSE_S = 0.4
CALL_TIMEOUT_S = 30
LONG_POLL_WAIT_S = 25


class VkApiError(Exception):
    """An error answer of the VK API, with its code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"VK API error {code}: {message}")
        self.code = code


class VkApi:
    """Calls VK API methods with the community token; one HTTP session, opened on first use."""

    def __init__(self, settings: VkSettings) -> None:
        if settings.token is None:
            raise ValueError("channels.vk.token is required")
        self._token = settings.token
        self._base = settings.api_url.rstrip("/")
        self._version = settings.api_version
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared HTTP session (created inside the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def call(self, method: str, **params: Any) -> Any:
        """The method's `response`; `VkApiError` for an error answer (error 6 retried first)."""
        for attempt in range(RATE_RETRIES + 1):
            try:
                return await self._call_once(method, params)
            except VkApiError as exc:
                if exc.code != TOO_MANY_REQUESTS or attempt == RATE_RETRIES:
                    raise
                await asyncio.sleep(RATE_PAUSE_S * 2 ** attempt)
        raise AssertionError("unreachable")

    async def _call_once(self, method: str, params: dict[str, Any]) -> Any:
        form = {k: _form_value(v) for k, v in params.items() if v is not None}
        form["access_token"] = self._token.get_secret_value()
        form["v"] = self._version
        timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)
        async with self.session.post(f"{self._base}/method/{method}", data=form,
                                     timeout=timeout) as response:
            body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise VkApiError(-1, f"unexpected answer to {method}")
        if "error" in body:
            error = body["error"] if isinstance(body["error"], dict) else {}
            raise VkApiError(int(error.get("error_code", -1)), str(error.get("error_msg", "")))
        return body.get("response")

    async def long_poll(self, server: str, key: str, ts: str) -> dict[str, Any]:
        """One Bots Long Poll request: `{ts, updates}` or `{failed, ts?}`."""
        timeout = aiohttp.ClientTimeout(total=LONG_POLL_WAIT_S + 10)
        params = {"act": "a_check", "key": key, "ts": ts, "wait": str(LONG_POLL_WAIT_S)}
        async with self.session.get(server, params=params, timeout=timeout) as response:
            body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise VkApiError(-1, "unexpected long poll answer")
        return body

    async def download(self, url: str, limit: int) -> bytes:
        """A media file's bytes; `MediaTooLarge` as soon as they pass `limit`."""
        return await download_bounded(self.session, url, limit)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
