"""`sovetnik leads` and `sovetnik outbox`: the deal store and the CRM outbox from the terminal."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bots.cli.common import fail, print_json, state, store_failure
from knowledge.ru.money import format_money
from pipelines.leads.payload import deal_fields
from store.audit import AuditRepository
from store.db import Database
from store.errors import StoreError
from store.leads import Contact, CrmEvent, CrmEventStatus, Deal, DealStage
from store.repositories import ContactRepository, CrmEventRepository, DealRepository

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, help="The deal store: list and export deals.")
outbox_app = typer.Typer(no_args_is_help=True,
                         help="The CRM outbox: deal events waiting for (or given up by) the CRM webhook.")

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
StageOpt = Annotated[str | None, typer.Option("--stage", help="new | qualified | in_work | won | lost")]
#: Columns of `leads export` (and keys of `leads list --json`), in order.
DEAL_COLUMNS = ("id", "stage", "product", "amount", "currency", "term_months", "city", "score",
                "manager", "name", "phone", "erased", "source_channel", "role", "dialog_id",
                "version", "details", "created_at", "updated_at")
STATUS_CHOICES = ("pending", "dead", "sent", "all")


def _with_db(ctx: typer.Context, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` against the configured (and migrated) store; store errors end the command."""
    url = state(ctx).settings.store.url.get_secret_value()

    async def main() -> T:
        db = Database.from_url(url)
        try:
            await db.migrate()
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except StoreError as exc:
        raise store_failure(exc) from None


# -- leads ----------------------------------------------------------------------------------


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    stage: StageOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Deals, newest first (only those at --stage when given)."""
    rows = _with_db(ctx, lambda db: deal_rows(db, _stage(stage), limit))
    if as_json:
        for row in rows:
            print_json(row)
        return
    for row in rows:
        typer.echo(_deal_line(row))
    if not rows:
        typer.echo("Сделок нет.")


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    csv_path: Annotated[Path, typer.Option("--csv", help="Write every deal to this CSV file.")],
    stage: StageOpt = None,
) -> None:
    """Export deals to CSV (UTF-8 with BOM, so Excel reads the Cyrillic)."""
    rows = _with_db(ctx, lambda db: deal_rows(db, _stage(stage), None))
    try:
        with csv_path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=DEAL_COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "details": json.dumps(row["details"], ensure_ascii=False)})
    except OSError as exc:
        raise fail(f"{csv_path}: не удалось записать файл: {exc.strerror}") from None
    typer.echo(f"Выгружено сделок: {len(rows)} → {csv_path}")


def _stage(value: str | None) -> DealStage | None:
    if value is None:
        return None
    try:
        return DealStage(value)
    except ValueError:
        allowed = ", ".join(s.value for s in DealStage)
        raise fail(f"--stage: недопустимое значение {value!r}; допустимо: {allowed}") from None


async def deal_rows(db: Database, stage: DealStage | None, limit: int | None) -> list[dict[str, Any]]:
    """Deals with their contacts, as plain rows (the `--json` and CSV format)."""
    async with db.session() as session:
        deals = await DealRepository(session).find(stage, limit)
        contacts = await ContactRepository(session).many(d.contact_id for d in deals)
    return [deal_row(deal, contacts.get(deal.contact_id)) for deal in deals]


def deal_row(deal: Deal, contact: Contact | None) -> dict[str, Any]:
    """One deal as printed and exported: the CRM's field names plus the contact."""
    fields = deal_fields(deal)
    row = {key: fields.get(key) for key in DEAL_COLUMNS if key in fields}
    row |= {"name": contact.name if contact else None, "phone": contact.phone if contact else None,
            "erased": bool(contact and contact.erased_at)}
    return {key: row.get(key) for key in DEAL_COLUMNS}


def _deal_line(row: dict[str, Any]) -> str:
    amount = format_money(row["amount"], row["currency"] or "RUB") if row["amount"] else "—"
    term = f"{row['term_months']} мес." if row["term_months"] else "—"
    who = "(удалено по запросу)" if row["erased"] else f"{row['name'] or '—'} {row['phone'] or ''}".strip()
    return (f"#{row['id']:<5} {row['stage']:<9} {row['product']:<7} {amount:>14} {term:>8}  "
            f"балл {row['score']:<3} {row['manager'] or '—':<12} {who}  "
            f"[{row['source_channel']}, {row['created_at'][:16].replace('T', ' ')}]")


# -- the CRM outbox ---------------------------------------------------------------------------


@outbox_app.command("list")
def outbox_list_cmd(
    ctx: typer.Context,
    status: Annotated[str, typer.Option("--status", help="pending | dead | sent | all "
                                        "(default: pending and dead)")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, oldest first.")] = 500,
    as_json: JsonOpt = False,
) -> None:
    """CRM events waiting for delivery or dead, with attempts and the last error."""
    statuses = _statuses(status)
    rows, counts = _with_db(ctx, lambda db: _events(db, statuses, limit))
    if as_json:
        for row in rows:
            print_json(row)
        return
    typer.echo("  ".join(f"{name}: {n}" for name, n in counts.items()))
    for row in rows:
        typer.echo(f"#{row['id']:<5} deal {row['deal_id']:<5} {row['event']:<13} {row['status']:<7} "
                   f"попыток {row['attempts']:<3} следующая {row['next_attempt_at'][:19]}  "
                   f"{row['last_error'] or ''}".rstrip())


@outbox_app.command("retry")
def outbox_retry_cmd(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Event ids (default: every dead event).")] = None,
) -> None:
    """Queue dead CRM events again; the running product delivers them within seconds."""
    count = _with_db(ctx, lambda db: retry_dead(db, ids or None, actor="cli"))
    typer.echo(f"Снова в очереди: {count}")


def _statuses(value: str) -> list[CrmEventStatus] | None:
    if not value:
        return [CrmEventStatus.PENDING, CrmEventStatus.DEAD]
    if value not in STATUS_CHOICES:
        raise fail(f"--status: недопустимое значение {value!r}; допустимо: {', '.join(STATUS_CHOICES)}")
    return None if value == "all" else [CrmEventStatus(value)]


async def _events(db: Database, statuses: list[CrmEventStatus] | None,
                  limit: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    async with db.session() as session:
        events = CrmEventRepository(session)
        return [event_row(e) for e in await events.find(statuses, limit)], await events.counts()


def event_row(event: CrmEvent) -> dict[str, Any]:
    """One CRM event as listed (its payload is left out: it holds personal data)."""
    return {
        "id": event.id, "deal_id": event.deal_id, "event": event.event, "status": str(event.status),
        "attempts": event.attempts, "next_attempt_at": event.next_attempt_at.isoformat(),
        "last_error": event.last_error, "idempotency_key": event.idempotency_key,
        "created_at": event.created_at.isoformat(),
        "sent_at": event.sent_at.isoformat() if event.sent_at else None,
    }


async def retry_dead(db: Database, ids: list[int] | None, *, actor: str) -> int:
    """Queue dead events again (all, or those of `ids`) and note it in the audit log."""
    async with db.transaction() as session:
        count = await CrmEventRepository(session).retry_dead(ids)
        await AuditRepository(session).add(actor, "crm.retry", "crm_events",
                                           {"ids": ids or "all_dead", "count": count})
    return count
