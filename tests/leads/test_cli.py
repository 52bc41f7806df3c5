"""`sovetnik leads list|export` and `sovetnik outbox list|retry [--replies]` on a SQLite store."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bots.cli.app import app
from pipelines.leads import LeadInput, LeadPipeline
from store import CrmEventRepository, Database, OutboxRepository
from tests.leads.helpers import NAME, ROLE
from tests.store.conftest import run_async


def _seed(url: str) -> None:
    """Two deals (one qualified, one new), a dead CRM event and a dead reply to a customer."""

    async def work() -> None:
        db = Database.from_url(url)
        try:
            await db.migrate()
            pipeline = LeadPipeline()
            for phone, required in (("+79123456789", frozenset({"phone"})),
                                    ("+79990001122", frozenset({"phone", "city"}))):
                lead = LeadInput(product="deposit", role_id=ROLE, consent=True, consent_version="v1",
                                 fields={"name": NAME, "phone": phone, "amount": "500000 RUB"},
                                 channel="telegram", user_ref=phone, required=required)
                async with db.transaction() as session:
                    await pipeline.process(session, lead)
            async with db.transaction() as session:
                await CrmEventRepository(session).mark_dead(1, "HTTP 400: bad field")
                replies = OutboxRepository(session)
                item = await replies.add("telegram", "5550001", {"text": "Ваш вклад открыт"})
                assert item.id is not None
                await replies.mark_dead(item.id, "Unauthorized: invalid token")
        finally:
            await db.dispose()

    run_async(work)


@pytest.fixture
def cli(tmp_path: Path) -> CliRunner:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    (tmp_path / "config.yaml").write_text(f'store: {{url: "{url}"}}\n', encoding="utf-8")
    _seed(url)
    return CliRunner()


def run(cli: CliRunner, tmp_path: Path, *args: str) -> Result:
    result = cli.invoke(app, ["--config", str(tmp_path / "config.yaml"), *args])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def test_leads_list_shows_deals_and_filters_by_stage(cli: CliRunner, tmp_path: Path) -> None:
    text = " ".join(run(cli, tmp_path, "leads", "list").stdout.split())  # NBSPs of «500 000 ₽» too
    assert "qualified" in text and "new" in text and "500 000" in text and "+79123456789" in text
    rows = [json.loads(line) for line in run(cli, tmp_path, "leads", "list", "--stage", "new",
                                             "--json").stdout.splitlines()]
    assert [(r["stage"], r["phone"], r["name"], r["amount"]) for r in rows] == [
        ("new", "+79990001122", NAME, "500000.00")]
    wrong = cli.invoke(app, ["--config", str(tmp_path / "config.yaml"), "leads", "list", "--stage", "x"])
    assert wrong.exit_code == 2 and "допустимо: new, qualified" in wrong.stderr


def test_leads_export_writes_a_csv_excel_reads(cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "deals.csv"
    assert "Выгружено сделок: 2" in run(cli, tmp_path, "leads", "export", "--csv", str(target)).stdout
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    with target.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["phone"] for r in rows] == ["+79990001122", "+79123456789"]
    assert rows[0]["name"] == NAME and rows[0]["currency"] == "RUB" and rows[0]["details"] == "{}"


def test_outbox_list_and_retry(cli: CliRunner, tmp_path: Path) -> None:
    listed = run(cli, tmp_path, "outbox", "list").stdout
    assert "pending: 1  sent: 0  dead: 1" in listed and "HTTP 400: bad field" in listed
    dead = [json.loads(line) for line in run(cli, tmp_path, "outbox", "list", "--status", "dead",
                                             "--json").stdout.splitlines()]
    assert [(e["id"], e["event"], e["attempts"]) for e in dead] == [(1, "deal.created", 1)]
    assert "payload" not in dead[0]  # personal data stays out of the terminal
    assert "Снова в очереди: 1" in run(cli, tmp_path, "outbox", "retry").stdout
    assert "Снова в очереди: 0" in run(cli, tmp_path, "outbox", "retry", "1").stdout
    assert "pending: 2  sent: 0  dead: 0" in run(cli, tmp_path, "outbox", "list").stdout


def test_outbox_replies_list_and_retry(cli: CliRunner, tmp_path: Path) -> None:
    listed = run(cli, tmp_path, "outbox", "list", "--replies").stdout
    assert "pending: 0  sent: 0  dead: 1" in listed and "Unauthorized: invalid token" in listed
    [dead] = [json.loads(line) for line in run(cli, tmp_path, "outbox", "list", "--replies",
                                                "--json").stdout.splitlines()]
    assert (dead["channel"], dead["dialog_key"], dead["status"]) == ("telegram", "5550001", "dead")
    assert "Ваш вклад" not in json.dumps(dead, ensure_ascii=False)  # what it says stays out
    assert "Снова в очереди: 1" in run(cli, tmp_path, "outbox", "retry", "--replies").stdout
    assert "pending: 1  sent: 0  dead: 0" in run(cli, tmp_path, "outbox", "list", "--replies").stdout
    assert "dead: 1" in run(cli, tmp_path, "outbox", "list").stdout  # the CRM's dead event is untouched
