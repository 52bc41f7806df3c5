"""`sovetnik outbox`: what waits for delivery, or was given up — CRM events and, with `--replies`, replies.

Both outboxes retry by themselves; an item is dead after its attempts ran out
(or at once when its receiver refused it for good). An operator fixes the cause
(the CRM's URL, a messenger's token) and queues dead items again with `retry`:
the running product delivers them within seconds.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bots.cli.common import fail, print_json, with_db
from store.audit import AuditRepository
from store.db import Database
from store.leads import CrmEvent, CrmEventStatus
from store.models import OutboxItem, OutboxStatus
from store.repositories import CrmEventRepository, OutboxRepository

app = typer.Typer(no_args_is_help=True,
                  help="The CRM outbox (deal events for the CRM webhook) and, with --replies, "
                       "the replies to customers: waiting or given up.")

STATUS_CHOICES = ("pending", "dead", "sent", "all")
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
RepliesOpt = Annotated[bool, typer.Option("--replies", help="Replies to customers instead of CRM events.")]


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: Annotated[str, typer.Option("--status", help="pending | dead | sent | all "
                                        "(default: pending and dead)")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, oldest first.")] = 500,
    replies: RepliesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Items waiting for delivery or dead, with attempts and the last error."""
    chosen = _statuses(status)
    listing = reply_rows if replies else event_rows
    rows, counts = with_db(ctx, lambda db: listing(db, chosen, limit))
    if as_json:
        for row in rows:
            print_json(row)
        return
    typer.echo("  ".join(f"{name}: {n}" for name, n in counts.items()))
    line = _reply_line if replies else _event_line
    for row in rows:
        typer.echo(line(row).rstrip())


@app.command("retry")
def retry_cmd(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Item ids (default: every dead one).")] = None,
    replies: RepliesOpt = False,
) -> None:
    """Queue dead items again; the running product delivers them within seconds."""
    retry = retry_dead_replies if replies else retry_dead
    count = with_db(ctx, lambda db: retry(db, ids or None, actor="cli"))
    typer.echo(f"Снова в очереди: {count}")


def _statuses(value: str) -> list[str] | None:
    if not value:
        return ["pending", "dead"]
    if value not in STATUS_CHOICES:
        raise fail(f"--status: недопустимое значение {value!r}; допустимо: {', '.join(STATUS_CHOICES)}")
    return None if value == "all" else [value]


# -- CRM events -------------------------------------------------------------------------------


async def event_rows(db: Database, statuses: list[str] | None,
                     limit: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """CRM events of these statuses (`None`: all) and the count of each status."""
    wanted = None if statuses is None else [CrmEventStatus(s) for s in statuses]
    async with db.session() as session:
        events = CrmEventRepository(session)
        return [event_row(e) for e in await events.find(wanted, limit)], await events.counts()


def event_row(event: CrmEvent) -> dict[str, Any]:
    """One CRM event as listed (its payload is left out: it holds personal data)."""
    return {
        "id": event.id, "deal_id": event.deal_id, "event": event.event, "status": str(event.status),
        "attempts": event.attempts, "next_attempt_at": event.next_attempt_at.isoformat(),
        "last_error": event.last_error, "idempotency_key": event.idempotency_key,
        "created_at": event.created_at.isoformat(),
        "sent_at": event.sent_at.isoformat() if event.sent_at else None,
    }


def _event_line(row: dict[str, Any]) -> str:
    return f"#{row['id']:<5} deal {row['deal_id']:<5} {row['event']:<13} {_progress(row)}"


async def retry_dead(db: Database, ids: list[int] | None, *, actor: str) -> int:
    """Queue dead CRM events again (all, or those of `ids`) and note it in the audit log."""
    async with db.transaction() as session:
        count = await CrmEventRepository(session).retry_dead(ids)
        await AuditRepository(session).add(actor, "crm.retry", "crm_events",
                                           {"ids": ids or "all_dead", "count": count})
    return count


# -- replies to customers -----------------------------------------------------------------------


async def reply_rows(db: Database, statuses: list[str] | None,
                     limit: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Replies of these statuses (`None`: all) and the count of each status."""
    wanted = None if statuses is None else [OutboxStatus(s) for s in statuses]
    async with db.session() as session:
        items = OutboxRepository(session)
        return [reply_row(i) for i in await items.find(wanted, limit)], await items.counts()


def reply_row(item: OutboxItem) -> dict[str, Any]:
    """One reply as listed: where it goes, not what it says (the text may hold personal data)."""
    return {
        "id": item.id, "channel": item.channel, "dialog_key": item.dialog_key, "status": str(item.status),
        "attempts": item.attempts, "next_attempt_at": item.next_attempt_at.isoformat(),
        "last_error": item.last_error, "created_at": item.created_at.isoformat(),
        "sent_at": item.sent_at.isoformat() if item.sent_at else None,
    }


def _reply_line(row: dict[str, Any]) -> str:
    return f"#{row['id']:<6} {row['channel']:<9} {row['dialog_key']:<14} {_progress(row)}"


def _progress(row: dict[str, Any]) -> str:
    return (f"{row['status']:<7} попыток {row['attempts']:<3} следующая {row['next_attempt_at'][:19]}  "
            f"{row['last_error'] or ''}")


async def retry_dead_replies(db: Database, ids: list[int] | None, *, actor: str) -> int:
    """Queue dead replies again (all, or those of `ids`) and note it in the audit log."""
    async with db.transaction() as session:
        count = await OutboxRepository(session).retry_dead(ids)
        await AuditRepository(session).add(actor, "outbox.retry", "outbox",
                                           {"ids": ids or "all_dead", "count": count})
    return count
