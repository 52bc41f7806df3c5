"""Console sign-in: argon2 password hashes, lock-out, CSRF tokens, the cookie-signing key.

After `MAX_FAILURES` wrong passwords an account is locked for `LOCK_MINUTES`,
whatever password comes next: guessing is slowed down without telling the
guesser whether the account exists.

Every attempt is counted *before* its password is checked, by one atomic
``UPDATE ... SET failed_logins = failed_logins + 1 ... RETURNING`` committed in
a transaction of its own; a right password then resets the count. So parallel
guesses cannot all slip in under the limit, and a refusal never rolls its own
count back. argon2 runs in a small thread pool (`PasswordChecker`), never on
the event loop that serves the customers' chats.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import col
from starlette.requests import Request

from store.accounts import ConsoleRole, ConsoleUser, UserRepository
from store.db import Database
from store.types import utc_now

MAX_FAILURES = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 8
NICE_INCREMENT = 10
WRONG = "Неверное имя или пароль."
LOCKED = ("Слишком много неудачных попыток. Вход временно заблокирован, "
          f"попробуйте через {LOCK_MINUTES} минут.")


class LoginRefused(Exception):
    """Wrong name or password, or a locked account; the message is for the person."""


class PasswordChecker:
    """argon2 hashing and verification on a bounded pool of threads.

    argon2-cffi releases the GIL while it hashes, so the event loop keeps
    serving while up to ``workers`` checks run; further sign-ins wait their turn.
    The threads also run at a lower CPU priority (`NICE_INCREMENT`, on Linux):
    a burst of sign-ins then takes longer itself rather than slowing the chats.
    """

    def __init__(self, workers: int = 2) -> None:
        """Check at most ``workers`` passwords at once."""
        self._hasher = PasswordHasher()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2",
                                        initializer=_lower_thread_priority)

    def hash_now(self, password: str) -> str:
        """An argon2id hash, computed on the calling thread (for the CLI)."""
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        """An argon2id hash of a password, computed in the pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``, checked in the pool."""
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        """Stop the threads (waiting for checks in progress)."""
        self._pool.shutdown(wait=True)


def _lower_thread_priority() -> None:
    """Make the calling thread (and the threads argon2 starts from it) yield the CPU first."""
    with contextlib.suppress(AttributeError, OSError):  # only where threads have their own nice
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + NICE_INCREMENT))


def hash_password(password: str) -> str:
    """An argon2id hash of a password (on the calling thread)."""
    return PasswordHasher().hash(password)


async def create_user(db: Database, name: str, role: str, password: str) -> ConsoleUser:
    """Add a console account; raise ValueError with a Russian reason for bad input."""
    name = name.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise ValueError("Имя: от 1 до 64 символов — буквы, цифры, точка, дефис, подчёркивание, @.")
    if role not in {r.value for r in ConsoleRole}:
        raise ValueError("Роль: manager или admin.")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"Пароль: не короче {MIN_PASSWORD} символов.")
    async with db.transaction() as session:
        repo = UserRepository(session)
        if await repo.by_name(name) is not None:
            raise ValueError(f"Пользователь {name} уже есть.")
        return await repo.add(name, ConsoleRole(role), hash_password(password))


async def authenticate(db: Database, checker: PasswordChecker, name: str, password: str) -> ConsoleUser:
    """The account for these credentials; `LoginRefused` otherwise.

    The attempt is counted (and the account locked at the limit) in its own
    committed transaction before the password is checked.
    """
    async with db.session() as session:
        user = await UserRepository(session).by_name(name.strip())
    if user is None or user.id is None:
        await checker.hash(password)  # spend the same time as for a real account
        raise LoginRefused(WRONG)
    if user.locked_until is not None:
        if user.locked_until > utc_now():
            raise LoginRefused(LOCKED)
        await _unlock_expired(db, user.id, user.locked_until)
    if not await _count_attempt(db, user.id):
        raise LoginRefused(LOCKED)
    if not await checker.verify(user.password_hash, password):
        raise LoginRefused(WRONG)
    if not await _clear_failures(db, user.id):  # locked by parallel guesses meanwhile
        raise LoginRefused(LOCKED)
    return user


async def _count_attempt(db: Database, user_id: int) -> bool:
    """Count one attempt atomically, locking at the limit; False if already locked."""
    table = ConsoleUser.__table__  # type: ignore[attr-defined]
    lock = sa.case((table.c.failed_logins + 1 > MAX_FAILURES,
                    sa.literal(utc_now() + timedelta(minutes=LOCK_MINUTES), table.c.locked_until.type)),
                   else_=table.c.locked_until)
    statement = (sa.update(table)
                 .where(table.c.id == user_id, table.c.locked_until.is_(None))
                 .values(failed_logins=table.c.failed_logins + 1, locked_until=lock)
                 .returning(table.c.failed_logins))
    async with db.transaction() as session:
        counted = (await session.execute(statement)).scalar_one_or_none()
    return counted is not None and counted <= MAX_FAILURES  # the attempt past the limit locks


async def _unlock_expired(db: Database, user_id: int, seen: datetime) -> None:
    """Start counting afresh once a lock has run out (only the first of racing callers does)."""
    async with db.transaction() as session:
        await session.execute(
            sa.update(ConsoleUser)
            .where(col(ConsoleUser.id) == user_id, col(ConsoleUser.locked_until) == seen)
            .values(failed_logins=0, locked_until=None))


async def _clear_failures(db: Database, user_id: int) -> bool:
    """Reset the count after a right password; False if the account got locked meanwhile."""
    async with db.transaction() as session:
        cleared = await session.execute(
            sa.update(ConsoleUser)
            .where(col(ConsoleUser.id) == user_id, col(ConsoleUser.locked_until).is_(None))
            .values(failed_logins=0)
            .returning(col(ConsoleUser.id)))
        return cleared.scalar_one_or_none() is not None


async def end_sessions(db: Database, user_id: int) -> None:
    """Invalidate every session of an account (sign-out): cookies signed before are refused."""
    async with db.transaction() as session:
        await session.execute(
            sa.update(ConsoleUser).where(col(ConsoleUser.id) == user_id)
            .values(session_generation=col(ConsoleUser.session_generation) + 1))


def csrf_token(request: Request) -> str:
    """This session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def csrf_ok(request: Request, submitted: object) -> bool:
    """Whether a submitted form carries this session's token."""
    token = request.session.get("csrf")
    return bool(token) and isinstance(submitted, str) and hmac.compare_digest(str(token), submitted)


def session_secret(configured: str | None, var_dir: Path) -> str:
    """The cookie-signing key: configured, else generated once and kept in `var/`."""
    if configured:
        return configured
    path = var_dir / "session_secret"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret
