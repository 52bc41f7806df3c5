"""Console sign-in: argon2 password hashes, a signed session cookie, CSRF tokens, lock-out.

After `MAX_FAILURES` wrong passwords an account is locked for `LOCK_MINUTES`,
whatever password comes next: guessing is slowed down without telling the
guesser whether the account exists.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request

from store.accounts import ConsoleRole, ConsoleUser, UserRepository
from store.db import Database
from store.types import utc_now

MAX_FAILURES = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 8
_HASHER = PasswordHasher()


class LoginRefused(Exception):
    """Wrong name or password, or a locked account; the message is for the person."""


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _HASHER.hash(password)


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


async def authenticate(db: Database, name: str, password: str) -> ConsoleUser:
    """The account for these credentials; `LoginRefused` otherwise (counts failures)."""
    async with db.transaction() as session:
        repo = UserRepository(session)
        user = await repo.by_name(name.strip())
        if user is None:
            _HASHER.hash(password)  # spend the same time as for a real account
            raise LoginRefused("Неверное имя или пароль.")
        if user.locked_until is not None and user.locked_until > utc_now():
            raise LoginRefused("Слишком много неудачных попыток. Вход временно заблокирован, "
                               f"попробуйте через {LOCK_MINUTES} минут.")
        try:
            _HASHER.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            failures = user.failed_logins + 1
            locked = utc_now() + timedelta(minutes=LOCK_MINUTES) if failures >= MAX_FAILURES else None
            await repo.update(user, failed_logins=0 if locked else failures, locked_until=locked)
            raise LoginRefused("Неверное имя или пароль.") from None
        await repo.update(user, failed_logins=0, locked_until=None)
        return user


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
