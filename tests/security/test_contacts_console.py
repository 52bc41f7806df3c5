"""Joining contacts and erasing by phone are a manager's explicit, audited acts in the console."""

from __future__ import annotations

import json

import httpx

from store import Database
from store.repositories import ContactRepository, DealRepository
from tests.security.conftest import MANAGER, Serve, Served, csrf_of, sign_in

PHONE = "+79123456789"


async def _seed(served: Served) -> tuple[int, int]:
    """Two people who gave one phone: a Telegram customer with a deal, a web-chat visitor."""
    db = Database.from_url(f"sqlite+aiosqlite:///{served.db}")
    try:
        async with db.transaction() as session:
            contacts = ContactRepository(session)
            first, _ = await contacts.of_identity("telegram", "9001", PHONE, "Анастасия")
            second, _ = await contacts.of_identity("webchat", "w-visitor", PHONE, "Анастасия П.")
            assert first.id is not None and second.id is not None
            await DealRepository(session).add(first.id, "deposit", channel="telegram",
                                              role_id="deposit_consultant")
    finally:
        await db.dispose()
    return first.id, second.id


async def test_a_manager_sees_both_contacts_and_merges_them_with_a_reason(serve: Serve) -> None:
    served = await serve()
    first, second = await _seed(served)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as manager:
        await sign_in(manager, *MANAGER)
        found = await manager.get("/console/contacts", params={"phone": "8 (912) 345-67-89"})
        form = {"csrf": csrf_of(found.text), "phone": PHONE, "source": str(second), "target": str(first)}
        no_reason = await manager.post("/console/contacts/merge", data=form | {"reason": ""})
        refused = await manager.get(no_reason.headers["location"])
        merged = await manager.post("/console/contacts/merge",
                                    data=form | {"reason": "перезвонили клиенту, оба чата его"})
        after = await manager.get(merged.headers["location"])

    assert found.status_code == 200
    assert f'data-contact="{first}"' in found.text and f'data-contact="{second}"' in found.text
    assert "Укажите причину" in refused.text
    assert f"Контакт {second} объединён с контактом {first}" in after.text
    assert f'data-contact="{second}"' not in after.text
    assert served.rows("SELECT contact_id FROM contact_identities ORDER BY id") == [(first,), (first,)]
    [(actor, details)] = served.rows("SELECT actor, details FROM audit_events "
                                     "WHERE action = 'contact.merged'")
    assert actor == f"manager:{MANAGER[0]}"
    assert json.loads(details) == {"source": second, "target": first,
                                   "reason": "перезвонили клиенту, оба чата его"}


async def test_erasing_by_phone_takes_a_reason_and_is_audited(serve: Serve) -> None:
    served = await serve()
    await _seed(served)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as manager:
        await sign_in(manager, *MANAGER)
        found = await manager.get("/console/contacts", params={"phone": PHONE})
        erased = await manager.post("/console/contacts/erase", data={
            "csrf": csrf_of(found.text), "phone": PHONE, "reason": "письменное заявление клиента"})
        done = await manager.get(erased.headers["location"])
    anonymous = httpx.post(f"{served.url}/console/contacts/erase",
                           data={"phone": PHONE, "reason": "хочу всё стереть"})

    assert "Данные удалены: контактов 2, сделок 1" in done.text
    assert served.rows("SELECT name, phone FROM contacts") == [(None, None), (None, None)]
    [(reason,)] = served.rows("SELECT json_extract(details, '$.reason') FROM audit_events "
                              "WHERE action = 'contact.erased_by_phone'")
    assert reason == "письменное заявление клиента"
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/console/login"
