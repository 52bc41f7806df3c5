"""Recording and listing console edits in the audit log."""

from __future__ import annotations

from typing import Any

from store.audit import AuditRepository
from store.db import Database


async def record(db: Database, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
    """Write one audit event in its own transaction."""
    async with db.transaction() as session:
        await AuditRepository(session).add(actor, action, target, details)


async def recent_events(db: Database, limit: int = 200) -> list[dict[str, Any]]:
    """The newest events, shaped for the audit page."""
    async with db.session() as session:
        events = await AuditRepository(session).recent(limit)
    return [{"time": e.created_at.strftime("%d.%m.%Y %H:%M:%S"), "actor": e.actor, "action": e.action,
             "target": e.target, "diff": e.details.get("diff"),
             "details": ", ".join(f"{k}: {v}" for k, v in e.details.items() if k != "diff")}
            for e in events]
