"""Push: deliver queued CRM events to a generic JSON webhook, without loss or reordering.

Each event is POSTed as JSON with

- ``X-Sovetnik-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes
  with the shared secret (``leads.crm.secret``);
- ``Idempotency-Key``: the event's key, the same on every retry;
- ``X-Sovetnik-Event``: ``deal.created``, ``deal.updated`` or ``deal.erased``.

A 2xx answer (or 409, "I have this key already") delivers the event. 408, 425,
429, 5xx, timeouts and refused connections are retried with capped exponential
backoff and jitter (a ``Retry-After`` is honoured); after ``max_attempts`` the
event is dead. A 429 is the CRM asking to wait, not a failure: it uses up no
attempt, so a CRM that throttles for minutes delays events but never kills
one. Any other answer is a permanent refusal: dead at once. A dead event holds
its deal's later events back until ``sovetnik outbox retry``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from store.db import Database
from store.leads import CrmEvent
from store.repositories import CrmEventRepository, backoff_delay
from store.types import utc_now

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Sovetnik-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Sovetnik-Event"
_RETRYABLE = frozenset({408, 425, 429})
_ERROR_BODY_CHARS = 200


def encode(payload: Mapping[str, Any]) -> bytes:
    """The exact body bytes sent (and signed): compact UTF-8 JSON with sorted keys."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, body: bytes) -> str:
    """The signature header value of ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` is the one ``sign`` gives (constant time): for receivers."""
    return signature is not None and hmac.compare_digest(sign(secret, body), signature)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently an event is retried."""

    max_attempts: int = 10
    base_s: float = 2.0
    cap_s: float = 600.0
    jitter: float = 0.5  # up to this share of a delay is random, so a recovering CRM is not stampeded

    def delay(self, attempts: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failure."""
        if retry_after is not None:
            return min(self.cap_s, max(0.0, retry_after))
        full = backoff_delay(attempts, self.base_s, self.cap_s)
        return full * (1 - self.jitter * rng.random())


@dataclass(frozen=True)
class Delivery:
    """The outcome of one attempt."""

    ok: bool
    permanent: bool = False
    retry_after: float | None = None
    error: str = ""
    throttled: bool = False  # HTTP 429: the CRM asked to wait; no attempt is used up


class WebhookClient:
    """POSTs events to one URL, signed with one secret."""

    def __init__(self, url: str, secret: str, timeout_s: float = 10.0) -> None:
        """Send to ``url``; the HTTP session opens on first use, in the running loop."""
        self.url = url
        self.timeout_s = timeout_s
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, event: CrmEvent) -> Delivery:
        """One attempt to deliver ``event``; never raises for network trouble."""
        body = encode(event.payload)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self._secret, body),
            IDEMPOTENCY_HEADER: event.idempotency_key,
            EVENT_HEADER: event.event,
        }
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self.url, data=body, headers=headers,
                                          allow_redirects=False) as response:
                return await _outcome(response)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Delivery(False, error=f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _outcome(response: aiohttp.ClientResponse) -> Delivery:
    status = response.status
    if 200 <= status < 300 or status == 409:
        return Delivery(True)
    text = (await response.text(errors="replace"))[:_ERROR_BODY_CHARS]
    error = f"HTTP {status}: {text}".strip()
    if status in _RETRYABLE or status >= 500:
        return Delivery(False, retry_after=_seconds(response.headers.get("Retry-After")), error=error,
                        throttled=status == 429)
    if 300 <= status < 400:
        error += " (redirects are not followed: set leads.crm.url to the final address)"
    return Delivery(False, permanent=True, error=error)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to the backoff


class CrmDispatcher:
    """Delivers due CRM events in the background; every deal's events in order.

    Without a client (no ``leads.crm.url``) it does nothing and events wait in
    the CRM outbox until a URL is configured.
    """

    def __init__(self, db: Database, client: WebhookClient | None, policy: RetryPolicy | None = None,
                 *, poll_s: float = 2.0, concurrency: int = 4, batch: int = 100,
                 rng: random.Random | None = None) -> None:
        """Deliver through ``client``; at most ``concurrency`` deals at a time."""
        self.db = db
        self.client = client
        self.policy = policy or RetryPolicy()
        self.poll_s = poll_s
        self.concurrency = concurrency
        self.batch = batch
        self._rng = rng or random.Random()
        # A claimed event is another worker's again only after a send would have timed out.
        self._lease_s = (client.timeout_s if client else 30.0) + 30.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Something was queued: deliver it now."""
        self._wake.set()

    def start(self) -> None:
        """Run the delivery loop in the background (a no-op without a client)."""
        if self.client is None:
            log.info("no CRM webhook configured (leads.crm.url): deals wait in the CRM outbox")
            return
        self._task = asyncio.create_task(self._run(), name="crm-outbox")

    async def stop(self) -> None:
        """Stop the loop and close the client; undelivered events stay queued."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.client is not None:
            await self.client.close()

    async def deliver_due(self) -> int:
        """Send everything due now, deals side by side, each deal in order; return how many went."""
        if self.client is None:
            return 0
        async with self.db.session() as session:
            events = await CrmEventRepository(session).due(utc_now(), self.batch)
        chains: dict[int, list[CrmEvent]] = {}
        for event in events:
            chains.setdefault(event.deal_id, []).append(event)
        gate = asyncio.Semaphore(self.concurrency)
        sent = await asyncio.gather(*(self._chain(chain, gate) for chain in chains.values()))
        return sum(sent)

    async def _run(self) -> None:
        while True:
            sent = 0
            try:
                sent = await self.deliver_due()
            except Exception:
                log.exception("CRM delivery round failed")
            if sent:
                continue  # more may have become due behind what was just sent
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def _chain(self, chain: list[CrmEvent], gate: asyncio.Semaphore) -> int:
        sent = 0
        async with gate:
            for event in chain:
                if not await self._claim(event) or not await self._deliver(event):
                    break
                sent += 1
        return sent

    async def _claim(self, event: CrmEvent) -> bool:
        assert event.id is not None
        async with self.db.transaction() as session:
            return await CrmEventRepository(session).claim(event.id, utc_now(), self._lease_s)

    async def _deliver(self, event: CrmEvent) -> bool:
        assert event.id is not None and self.client is not None
        result = await self.client.send(event)
        async with self.db.transaction() as session:
            events = CrmEventRepository(session)
            if result.ok:
                await events.mark_sent(event.id)
                return True
            attempts = event.attempts + 1
            if result.throttled:
                delay = self.policy.delay(attempts, self._rng, result.retry_after)
                await events.mark_retry(event.id, result.error, delay, counts=False)
            elif result.permanent or attempts >= self.policy.max_attempts:
                log.warning("CRM event %s of deal %s is dead after %d attempt(s): %s",
                            event.id, event.deal_id, attempts, result.error)
                await events.mark_dead(event.id, result.error)
            else:
                delay = self.policy.delay(attempts, self._rng, result.retry_after)
                await events.mark_retry(event.id, result.error, delay)
        return False
