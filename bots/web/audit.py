"""Recording and listing console edits in the audit log."""

from __future__ import annotations

from typing import Any

from bots.web.labels import audit_action, audit_details, channel
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
    return [{"time": e.created_at.strftime("%d.%m.%Y %H:%M:%S"), "actor": _actor(e.actor),
             "action": audit_action(e.action), "code": e.action,
             "target": e.target, "diff": e.details.get("diff"), "details": audit_details(e.details)}
            for e in events]


def _actor(actor: str) -> str:
    """«customer:webchat» → «клиент (веб-чат)»; a console user stays as named."""
    kind, _, where = actor.partition(":")
    if kind == "customer":
        return f"клиент ({channel(where)})" if where else "клиент"
    return {"system": "система"}.get(actor, actor)
