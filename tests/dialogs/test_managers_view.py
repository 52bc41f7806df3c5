"""What a manager sees of the dialogs this suite plays: Russian labels, complaints first, a useful summary.

The dialogs go through the real engine; the console's own functions build the
queue, the dialog page (rendered with the product's template) and the audit log.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from agents.role_registry import RoleRegistry
from bots.web.audit import recent_events
from bots.web.console import _dialog_context, _queue
from bots.web.templating import TEMPLATES
from store.models import Dialog, Message
from tests.dialogs.runner import ChatBench, normal

LOAN = ["хочу кредит 300 тысяч на 2 года", "да", "Олег", "89031234567", "Казань", "да, всё верно"]


async def _page(bench: ChatBench, roles: RoleRegistry, key: str) -> str:
    async with bench.db.session() as session:
        dialog = (await session.scalars(sa.select(Dialog).where(Dialog.dialog_key == key))).one()
        messages = list((await session.scalars(
            sa.select(Message).where(Message.dialog_id == dialog.id).order_by(Message.id))).all())
    runtime: Any = SimpleNamespace(roles=roles, db=bench.db)
    context = _dialog_context(dialog, messages, runtime)
    template = TEMPLATES.env.get_template("dialog.html")
    return template.render(user=None, csrf="t", flash=None, flash_error=False, request=None, **context)


async def test_the_dialog_page_speaks_russian_and_close_asks_first(bench: ChatBench,
                                                                  roles: RoleRegistry) -> None:
    for line in LOAN:
        await bench.say(line)
    html = await _page(bench, roles, bench.key)
    text = normal(html)
    assert "канал: веб-чат" in text and "роль: кредитный менеджер" in text
    assert "продукт: кредит" in text and "сумма кредита" in text and "300 000" in text
    for code in ("webchat", "loan_manager", ">amount<", ">phone<", "продукт: loan"):
        assert code not in text, code
    assert "data-confirm=\"закрыть диалог?" in normal(html)


async def test_complaints_lead_the_queue_and_the_summary_says_what_to_do(
        bench: ChatBench, roles: RoleRegistry) -> None:
    bench.key = "asks-for-a-person"
    await bench.open()
    await bench.say("какая ставка по вкладу на год?")
    await bench.say("позовите оператора")
    bench.key = "angry-customer"
    await bench.open()
    await bench.say("какие вклады у вас есть?")
    await bench.say("вы там совсем обалдели?? верните мои деньги")

    runtime: Any = SimpleNamespace(roles=roles, db=bench.db)
    queue = await _queue(runtime)
    assert [row["complaint"] for row in queue] == [True, False]
    assert queue[0]["reason"] == "жалоба клиента" and queue[0]["channel"] == "веб-чат"

    text = normal(await _page(bench, roles, "angry-customer"))
    assert "разобраться с жалобой" in text
    # «Что ответил бот» is the informative answer, not the complaint notice.
    answered = text.split("что ответил бот")[1].split("что осталось")[0]
    assert "вклад" in answered and "передаю ваше обращение" not in answered


async def test_the_audit_log_reads_in_russian(bench: ChatBench) -> None:
    for line in LOAN:
        await bench.say(line)
    events = await recent_events(bench.db)
    assert events, "a completed application leaves audit events"
    for event in events:
        assert not any(ch.isascii() and ch.isalpha() for ch in event["action"]), event
        assert "customer:" not in event["actor"]


async def test_the_console_never_shows_a_card_number(bench: ChatBench, roles: RoleRegistry) -> None:
    await bench.say("моя карта 4276 1234 5678 9012 срок 12/27 заблокируйте её срочно")
    await bench.say("позовите менеджера")
    html = await _page(bench, roles, bench.key)
    runtime: Any = SimpleNamespace(roles=roles, db=bench.db)
    queue = str(await _queue(runtime))
    for shown in (html, queue):
        assert "4276" not in shown and "9012" not in shown and "12/27" not in shown
    assert "[номер карты скрыт]" in html
