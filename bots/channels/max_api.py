"""A thin client of the MAX Bot API on aiohttp.

The token goes only in the `Authorization` header (never in a URL). Errors come
as an HTTP status with `{"code", "message"}`; 429 (too many requests) and 5xx
are failures to retry later, the rest are the caller's problem.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bots.channels.media import download_bounded
from bots.config import MaxSettings

CALL_TIMEOUT_S = 30
POLL_TIMEOUT_S = 30  # MAX holds a long poll at most this long
POLL_LIMIT = 100


class MaxApiError(Exception):
    """An error answer of the MAX Bot API: the HTTP status and MAX's code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"MAX API {status} {code}: {message}")
        self.status = status
        self.code = code

    @property
    def retryable(self) -> bool:
        """Too many requests, or MAX itself failing: worth trying again later."""
        return self.status == 429 or self.status >= 500


class MaxApi:
    """Calls the Bot API with the bot's token; one HTTP session, opened on first use."""

    def __init__(self, settings: MaxSettings) -> None:
        if settings.token is None:
            raise ValueError("channels.max.token is required")
        self._token = settings.token
        self._base = settings.api_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared HTTP session (created inside the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def call(self, http_method: str, path: str, *, params: dict[str, Any] | None = None,
                   body: dict[str, Any] | None = None, timeout_s: float = CALL_TIMEOUT_S) -> Any:
        """The JSON answer of one request; `MaxApiError` for an error status."""
        headers = {"Authorization": self._token.get_secret_value()}
        if body is not None:
            headers["Content-Type"] = "application/json"
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        data = None if body is None else json.dumps(body, ensure_ascii=False)
        async with self.session.request(http_method, f"{self._base}{path}", params=query,
                                        headers=headers, data=data,
                                        timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            text = await response.text()
            answer = json.loads(text) if text else {}
            if response.status >= 400:
                error = answer if isinstance(answer, dict) else {}
                raise MaxApiError(response.status, str(error.get("code", "")), str(error.get("message", "")))
            return answer

    async def updates(self, marker: int | None) -> dict[str, Any]:
        """One long poll: `{"updates": [...], "marker": N}`."""
        answer = await self.call("GET", "/updates", params={
            "marker": marker, "timeout": POLL_TIMEOUT_S, "limit": POLL_LIMIT, "types": "message_created"},
            timeout_s=POLL_TIMEOUT_S + 10)
        if not isinstance(answer, dict):
            raise MaxApiError(200, "bad.answer", "unexpected /updates answer")
        return answer

    async def download(self, url: str, limit: int) -> bytes:
        """A media file's bytes (no token sent); `MediaTooLarge` as soon as they pass `limit`."""
        return await download_bounded(self.session, url, limit)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
