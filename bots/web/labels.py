"""Russian labels for what the console shows: channels, roles, products, lead fields, audit actions.

Managers read Russian: an id («webchat», «deposit_consultant», «amount») never
reaches a page when a label exists. Roles are named by their own `name`
(admin-editable); an unknown code is shown as it is rather than hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.leadform import display
from agents.role_registry import RoleRegistry
from agents.turn import LeadState

CHANNELS = {"webchat": "веб-чат", "telegram": "Telegram", "vk": "ВКонтакте", "max": "MAX",
            "cli": "терминал", "managers": "чат менеджеров"}
PRODUCTS = {"deposit": "вклад", "loan": "кредит", "other": "обращение"}
FIELDS = {"name": "Имя", "phone": "Телефон", "amount": "Сумма", "term": "Срок", "city": "Город",
          "comment": "Комментарий"}
AUDIT_ACTIONS = {
    "role.save": "роль изменена", "knowledge.save": "документ базы знаний изменён",
    "knowledge.upload": "документ загружен в базу знаний",
    "knowledge.delete": "документ удалён из базы знаний",
    "consent.given": "клиент дал согласие на обработку данных", "customer.erased": "данные клиента удалены",
    "deal.created": "создана сделка", "deal.updated": "сделка обновлена", "deal.erased": "сделка обезличена",
    "crm.retry": "повторная отправка в CRM",
}
AUDIT_KEYS = {"contacts": "контактов", "deals": "сделок", "dialogs": "диалогов", "messages": "сообщений",
              "bytes": "байт", "channel": "канал", "version": "версия", "events": "событий",
              "deal_id": "сделка", "product": "продукт", "stage": "стадия"}
SENTIMENT = {"negative": "недовольство", "neutral": "нейтрально", "positive": "довольство"}


def channel(code: str) -> str:
    """«webchat» → «веб-чат»."""
    return CHANNELS.get(code, code)


def role(roles: RoleRegistry | None, role_id: str | None) -> str:
    """A role id as its display name («deposit_consultant» → «Консультант по вкладам»)."""
    if not role_id:
        return "—"
    try:
        return roles.get(role_id).name if roles is not None else role_id
    except Exception:  # a role removed since: its id is all we have
        return role_id


def lead_card(lead: LeadState | None, roles: RoleRegistry | None) -> dict[str, Any] | None:
    """The lead as the dialog page shows it: product in words, each field with its form label."""
    if lead is None:
        return None
    labels = dict(FIELDS)
    try:
        form = roles.get(lead.role_id).lead_form if roles is not None and lead.role_id else None
    except Exception:
        form = None
    if form is not None:
        labels |= {f.name: f.label for f in form.fields}
    rows = [(labels.get(k, k), display(k, v) if v else "—") for k, v in lead.fields.items()]
    return {"product": PRODUCTS.get(lead.product, lead.product), "consent": lead.consent,
            "completed": lead.completed, "rows": rows}


def audit_action(code: str) -> str:
    """An audit action code in words."""
    return AUDIT_ACTIONS.get(code, code)


def audit_details(details: Mapping[str, Any]) -> str:
    """Audit details in words, without the diff (shown on its own)."""
    return ", ".join(f"{AUDIT_KEYS.get(k, k)}: {channel(v) if k == 'channel' else v}"
                     for k, v in details.items() if k != "diff")
