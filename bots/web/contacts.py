"""The contacts page: people who gave one phone, a manager's merge, erasure by phone.

A phone typed in a chat proves nothing about who owns it, so the product never
joins or erases contacts by phone on its own. Here a manager, having checked
(a call back, a document), does it explicitly; each act names its reason and
lands in the audit log.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bots.web.guard import account, console, flash, page, posted, runtime_of
from bots.web.templating import render
from pipelines.leads.identity import (
    IdentityActionError,
    contacts_with_phone,
    erase_by_phone,
    merge_contacts,
)

PAGE = "/console/contacts"


def _back(phone: str) -> Response:
    return RedirectResponse(f"{PAGE}?phone={quote(phone)}" if phone else PAGE, status_code=303)


@console()
async def contacts_page(request: Request) -> Response:
    """The contacts that gave the phone searched for."""
    phone = request.query_params.get("phone", "").strip()[:32]
    found, error = [], None
    if phone:
        try:
            found = await contacts_with_phone(runtime_of(request).db, phone)
        except IdentityActionError as exc:
            error = str(exc)
    context = {"phone": phone, "contacts": found, "error": error}
    return render(request, "contacts.html", page(request, account(request), **context))


@console()
async def merge(request: Request) -> Response:
    """Join one contact into another, with a reason."""
    form = await posted(request)
    if isinstance(form, Response):
        return form
    try:
        source, target = int(form.get("source", "")), int(form.get("target", ""))
        await merge_contacts(runtime_of(request).db, source, target,
                             actor=f"manager:{account(request).name}", reason=form.get("reason", ""))
    except ValueError as exc:  # IdentityActionError included; a bad number too
        text = str(exc) if isinstance(exc, IdentityActionError) else "Выберите два контакта."
        flash(request, text, error=True)
    else:
        flash(request, f"Контакт {source} объединён с контактом {target}.")
    return _back(form.get("phone", ""))


@console()
async def erase(request: Request) -> Response:
    """Erase every contact that gave a phone, with a reason (a request made outside the chat)."""
    form = await posted(request)
    if isinstance(form, Response):
        return form
    runtime, phone = runtime_of(request), form.get("phone", "")
    try:
        report = await erase_by_phone(runtime.db, phone, actor=f"manager:{account(request).name}",
                                      reason=form.get("reason", ""),
                                      managers_channel=runtime.engine.hooks.managers_channel)
    except IdentityActionError as exc:
        flash(request, str(exc), error=True)
        return _back(phone)
    flash(request, f"Данные удалены: контактов {report.contacts}, сделок {report.deals}, "
                   f"сообщений {report.messages}.")
    return RedirectResponse(PAGE, status_code=303)


def routes() -> list[Route]:
    """The contacts page and its two actions."""
    return [
        Route(PAGE, contacts_page),
        Route(f"{PAGE}/merge", merge, methods=["POST"]),
        Route(f"{PAGE}/erase", erase, methods=["POST"]),
    ]
