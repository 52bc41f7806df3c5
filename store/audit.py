"""The audit log: who changed what, and when (console edits, erasures, lead events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, col

from store.models import StoreModel, _id_column, _json_column, _str_column, _time_column
from store.types import utc_now


class AuditEvent(StoreModel, table=True):
    """One recorded action."""

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index(None, "created_at"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, sa_column=_id_column())
    actor: str = Field(sa_column=_str_column(128))
    action: str = Field(sa_column=_str_column(64))
    target: str = Field(default="", sa_column=_str_column(255))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())
    created_at: datetime = Field(default_factory=utc_now, sa_column=_time_column())


class AuditRepository:
    """Writes and reads the audit log inside a caller-owned session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, actor: str, action: str, target: str = "",
                  details: dict[str, Any] | None = None) -> AuditEvent:
        """Record an action."""
        event = AuditEvent(actor=actor[:128], action=action[:64], target=target[:255],
                           details=details or {})
        self._session.add(event)
        await self._session.flush()
        return event

    async def recent(self, limit: int = 200) -> list[AuditEvent]:
        """The newest events first."""
        query = sa.select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)
        return list((await self._session.scalars(query)).all())
