"""Flood limits of the web chat: per client, per IP, and a bounded queue for each.

A client id is issued (and signed) by the server, so a flooder cannot pick
fresh keys at will; every message then has to pass four checks:

- the client's own rate (`per_client` messages per `window_s`);
- its IP's rate, all of that IP's clients together (`per_ip`);
- its dialog's queue: at most `pending_per_dialog` messages waiting for an answer;
- its IP's queue: at most `pending_per_ip` waiting across all of that IP's open dialogs.

The queue bounds are what keep others answered: however many sockets one
address opens, only a few of its messages are ever ahead of anyone else's.
The rate counters (`HitWindow`) live in this process by default, or in Redis
under `scale.rate_limits: redis` (`bots.web.flood_redis`), so the balancer
spreading a flooder over several processes does not multiply the rates. Open
sockets and the IP's queue are counted per process.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer

CLIENT_SALT = "sovetnik.webchat.client"
TOO_FAST = "Слишком много сообщений подряд. Подождите минуту."
TOO_FAST_IP = "С вашего адреса приходит слишком много сообщений. Подождите минуту."
BUSY = "Я ещё отвечаю на предыдущие сообщения — подождите, пожалуйста, ответа."
TOO_MANY_TABS = "Открыто слишком много окон чата. Закройте лишние и обновите страницу."


@dataclass(frozen=True)
class FloodLimits:
    """The numbers behind the web chat's flood checks."""

    per_client: int = 20
    per_ip: int = 60
    window_s: float = 60.0
    pending_per_dialog: int = 3
    pending_per_ip: int = 6
    sockets_per_ip: int = 30
    tracked_keys: int = 50_000  # beyond this, idle counters are forgotten


class ClientIds:
    """Server-issued web chat client ids: `<random>.<signature>`; anything else is refused."""

    def __init__(self, secret: str) -> None:
        self._signer = Signer(secret, salt=CLIENT_SALT)

    def issue(self, random_part: str) -> str:
        """A signed id for a fresh random part."""
        return self._signer.sign(random_part).decode()

    def valid(self, value: str | None) -> bool:
        """Whether `value` is an id this server issued."""
        if not value or len(value) > 100:
            return False
        try:
            self._signer.unsign(value)
        except BadSignature:
            return False
        return True


class HitWindow(ABC):
    """Sliding-window counters, one per key: how many hits a key had in the last `window_s`."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s

    @abstractmethod
    async def full(self, key: str) -> bool:
        """Whether `key` has had `limit` hits within the window."""

    @abstractmethod
    async def record(self, key: str) -> None:
        """Count one hit of `key` now."""


class LocalWindow(HitWindow):
    """This process's counters (the embedded default); idle keys are forgotten past `max_keys`."""

    def __init__(self, limit: int, window_s: float, max_keys: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(limit, window_s)
        self.max_keys, self._clock = max_keys, clock
        self._hits: dict[str, deque[float]] = {}

    async def full(self, key: str) -> bool:
        """Whether `key` has had `limit` hits within the window."""
        hits = self._hits.get(key)
        if hits is None:
            return False
        now = self._clock()
        while hits and now - hits[0] > self.window_s:
            hits.popleft()
        return len(hits) >= self.limit

    async def record(self, key: str) -> None:
        """Count one hit of `key` now."""
        now = self._clock()
        if key not in self._hits and len(self._hits) >= self.max_keys:
            self._forget_idle(now)
        self._hits.setdefault(key, deque()).append(now)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or now - hits[-1] > self.window_s]:
            del self._hits[key]


PendingCount = Callable[[list[str]], Awaitable[int]]


class FloodGuard:
    """Decides whether a web chat message or socket is let in; the refusal is Russian text."""

    def __init__(self, limits: FloodLimits = FloodLimits(),
                 windows: Callable[[str, int, float], HitWindow] | None = None) -> None:
        """`windows(name, limit, window_s)` builds the rate counters (default: this process's)."""
        self.limits = limits
        make = windows or (lambda _name, limit, window_s: LocalWindow(limit, window_s, limits.tracked_keys))
        self._clients = make("client", limits.per_client, limits.window_s)
        self._ips = make("ip", limits.per_ip, limits.window_s)
        self._dialogs: dict[str, dict[str, int]] = {}  # ip -> dialog key -> open sockets
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, ip: str) -> asyncio.Lock:
        """Held around check-and-accept, so an IP's parallel sockets cannot overshoot its queue."""
        return self._locks.setdefault(ip, asyncio.Lock())

    def open_socket(self, ip: str, dialog_key: str) -> bool:
        """Register a socket; False when its IP already has too many open."""
        dialogs = self._dialogs.setdefault(ip, {})
        if sum(dialogs.values()) >= self.limits.sockets_per_ip:
            return False
        dialogs[dialog_key] = dialogs.get(dialog_key, 0) + 1
        return True

    def close_socket(self, ip: str, dialog_key: str) -> None:
        """Forget a closed socket."""
        dialogs = self._dialogs.get(ip, {})
        left = dialogs.get(dialog_key, 0) - 1
        if left > 0:
            dialogs[dialog_key] = left
        else:
            dialogs.pop(dialog_key, None)
        if not dialogs:
            self._dialogs.pop(ip, None)
            lock = self._locks.get(ip)
            if lock is not None and not lock.locked():
                del self._locks[ip]

    async def refusal(self, ip: str, dialog_key: str, pending: PendingCount) -> str | None:
        """None when the message may be accepted (and is counted); else why not."""
        if await self._clients.full(dialog_key):
            return TOO_FAST
        if await self._ips.full(ip):
            return TOO_FAST_IP
        if await pending([dialog_key]) >= self.limits.pending_per_dialog:
            return BUSY
        if await pending(sorted(self._dialogs.get(ip, {}))) >= self.limits.pending_per_ip:
            return BUSY
        await self._clients.record(dialog_key)
        await self._ips.record(ip)
        return None
