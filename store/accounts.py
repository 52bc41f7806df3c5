"""Console accounts: managers and admins who sign in to the web console."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, col

from store.models import StoreModel, _enum_column, _id_column, _str_column, _time_column
from store.types import utc_now


class ConsoleRole(StrEnum):
    """What an account may do: managers work dialogs, admins also edit roles and knowledge."""

    MANAGER = "manager"
    ADMIN = "admin"


class ConsoleUser(StoreModel, table=True):
    """A person who signs in to the console (password kept as an argon2 hash)."""

    __tablename__ = "console_users"
    __table_args__ = (sa.UniqueConstraint("name"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, sa_column=_id_column())
    name: str = Field(sa_column=_str_column(64))
    role: ConsoleRole = Field(sa_column=_enum_column(ConsoleRole, "role"))
    password_hash: str = Field(sa_column=_str_column(255))
    failed_logins: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    locked_until: datetime | None = Field(default=None, sa_column=_time_column(nullable=True))
    #: Grows on every sign-out; sessions signed with an older value are refused.
    session_generation: int = Field(
        default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0")
    )
    created_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())


class UserRepository:
    """Console accounts, inside a caller-owned session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_name(self, name: str) -> ConsoleUser | None:
        """The account with this login name."""
        query = sa.select(ConsoleUser).where(col(ConsoleUser.name) == name)
        return (await self._session.scalars(query)).first()

    async def get(self, user_id: int) -> ConsoleUser | None:
        """The account with this id."""
        return await self._session.get(ConsoleUser, user_id)

    async def add(self, name: str, role: ConsoleRole, password_hash: str) -> ConsoleUser:
        """Create an account (the name must be free)."""
        user = ConsoleUser(name=name, role=role, password_hash=password_hash)
        self._session.add(user)
        await self._session.flush()
        return user

    async def update(self, user: ConsoleUser, **fields: Any) -> ConsoleUser:
        """Change fields of an account."""
        for key, value in fields.items():
            setattr(user, key, value)
        self._session.add(user)
        await self._session.flush()
        return user

    async def all(self) -> list[ConsoleUser]:
        """Every account, by name."""
        query = sa.select(ConsoleUser).order_by(col(ConsoleUser.name))
        return list((await self._session.scalars(query)).all())
