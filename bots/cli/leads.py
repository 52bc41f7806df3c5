"""`sovetnik leads`: the deal store from the terminal."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bots.cli.common import fail, print_json, with_db
from knowledge.ru.money import format_money
from pipelines.leads.payload import deal_fields
from store.db import Database
from store.leads import Contact, Deal, DealStage
from store.repositories import ContactRepository, DealRepository

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, help="The deal store: list and export deals.")

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
StageOpt = Annotated[str | None, typer.Option("--stage", help="new | qualified | in_work | won | lost")]
#: Columns of `leads export` (and keys of `leads list --json`), in order.
DEAL_COLUMNS = ("id", "stage", "product", "amount", "currency", "term_months", "city", "score",
                "manager", "name", "phone", "erased", "source_channel", "role", "dialog_id",
                "version", "details", "created_at", "updated_at")


# -- leads ----------------------------------------------------------------------------------


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    stage: StageOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Deals, newest first (only those at --stage when given)."""
    rows = with_db(ctx, lambda db: deal_rows(db, _stage(stage), limit))
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
    rows = with_db(ctx, lambda db: deal_rows(db, _stage(stage), None))
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
