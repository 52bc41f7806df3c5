"""A messenger API client's HTTP session, and fetching media without ever holding more than a limit."""

from __future__ import annotations

import aiohttp

from bots.channels.base import MediaTooLarge

CHUNK = 64 * 1024
TIMEOUT_S = 60


async def download_bounded(session: aiohttp.ClientSession, url: str, limit: int) -> bytes:
    """The file at `url`; `MediaTooLarge` from its declared size, or as soon as it passes `limit`."""
    received = bytearray()
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
                           raise_for_status=True) as response:
        if response.content_length is not None and response.content_length > limit:
            raise MediaTooLarge(f"{response.content_length} bytes is over the {limit}-byte limit",
                                limit=limit)
        async for chunk in response.content.iter_chunked(CHUNK):
            received += chunk
            if len(received) > limit:
                raise MediaTooLarge(f"over the {limit}-byte limit", limit=limit)
    return bytes(received)


class HttpApi:
    """One aiohttp session per messenger client, opened on first use inside the running loop."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared HTTP session (created inside the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def download(self, url: str, limit: int) -> bytes:
        """A media file's bytes (no token sent); `MediaTooLarge` as soon as they pass `limit`."""
        return await download_bounded(self.session, url, limit)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
