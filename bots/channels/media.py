"""Fetching a messenger's media file over HTTP without ever holding more than a limit."""

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
