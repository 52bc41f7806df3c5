"""The dashboard: dialogs per day, automation rate, handoffs by reason, deals, response time,
and the customers' sentiment per day (as the agent's classifier labelled each message).

Figures come from the store at request time and are drawn as server-side SVG
bar charts: no JavaScript and no third-party chart code.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agents.summary import REASONS
from bots.runtime import Runtime
from bots.web.guard import account, console, page, runtime_of
from bots.web.templating import render
from store.models import Dialog, InboxItem, Message
from store.types import utc_now

DAYS = 14


@console()
async def dashboard(request: Request) -> Response:
    """Figures of the last `DAYS` days."""
    context = await figures(runtime_of(request))
    return render(request, "dashboard.html", page(request, account(request), **context))


def routes() -> list[Route]:
    """The dashboard page."""
    return [Route("/console/dashboard", dashboard)]


async def figures(runtime: Runtime) -> dict[str, Any]:
    """Every figure the dashboard shows."""
    since = utc_now() - timedelta(days=DAYS)
    async with runtime.db.session() as session:
        dialogs = list((await session.scalars(
            sa.select(Dialog).where(col(Dialog.created_at) >= since))).all())
        ids = [d.id for d in dialogs]
        query = sa.select(Message).where(col(Message.dialog_id).in_(ids)).order_by(col(Message.id))
        messages = list((await session.scalars(query)).all()) if ids else []
        # A customer's message is stored when it is answered; it was received earlier.
        inbox_ids = [m.inbox_id for m in messages if m.inbox_id is not None]
        rows = (await session.execute(sa.select(col(InboxItem.id), col(InboxItem.received_at))
                                      .where(col(InboxItem.id).in_(inbox_ids)))).all() if inbox_ids else []
        received = {row[0]: row[1] for row in rows if row[0] is not None}
        deals = await _deals_by_stage(session)
    by_dialog: dict[int, list[Message]] = {}
    for m in messages:
        by_dialog.setdefault(m.dialog_id, []).append(m)
    per_day = Counter(d.created_at.date().isoformat() for d in dialogs)
    days = [(utc_now() - timedelta(days=i)).date().isoformat() for i in range(DAYS - 1, -1, -1)]
    handoffs = Counter(m.meta.get("handoff_reason") for m in messages if m.meta.get("handoff"))
    handed = {m.dialog_id for m in messages if m.meta.get("handoff") or str(m.author) == "manager"}
    automation = 1 - len(handed) / len(dialogs) if dialogs else None
    return {
        "per_day": bars([(f"{d[8:]}.{d[5:7]}", per_day.get(d, 0)) for d in days]),
        "total": len(dialogs), "automation": automation,
        "handoffs": bars([(REASONS.get(r or "", r or "—"), n) for r, n in handoffs.most_common()]),
        "deals": bars(deals),
        "first_response": _median_first_response(by_dialog.values(), received),
        "sentiment": _sentiment_per_day(messages, days),
    }


def _sentiment_per_day(messages: list[Message], days: list[str]) -> list[dict[str, Any]]:
    """Customer messages per day by sentiment label, newest day first, days with none left out."""
    counts: dict[str, Counter[str]] = {}
    for m in messages:
        label = m.meta.get("sentiment") if str(m.author) == "customer" else None
        if label:
            counts.setdefault(m.created_at.date().isoformat(), Counter())[str(label)] += 1
    return [{"day": f"{d[8:]}.{d[5:7]}", "negative": counts[d]["negative"],
             "neutral": counts[d]["neutral"], "positive": counts[d]["positive"]}
            for d in reversed(days) if d in counts]


async def _deals_by_stage(session: Any) -> list[tuple[str, int]]:
    try:
        from store.leads import Deal
    except ImportError:
        return []
    rows = (await session.execute(
        sa.select(col(Deal.stage), sa.func.count()).group_by(col(Deal.stage)))).all()
    return [(str(stage), int(n)) for stage, n in rows]


def _median_first_response(dialogs: Any, received: dict[int, Any]) -> float | None:
    """Seconds from receiving a dialog's first customer message to the first answer."""
    waits = []
    for msgs in dialogs:
        asked = next((m for m in msgs if str(m.author) == "customer"), None)
        if asked is None:
            continue
        answer = next((m for m in msgs if m.id and asked.id and m.id > asked.id
                       and str(m.author) in ("agent", "manager")), None)
        if answer is not None:
            since = received.get(asked.inbox_id, asked.created_at) if asked.inbox_id else asked.created_at
            waits.append(max(0.0, (answer.created_at - since).total_seconds()))
    return statistics.median(waits) if waits else None


LABEL_CHARS = 30
VALUE_ROOM = 48


def bars(pairs: list[tuple[str, int]], width: int = 520, bar: int = 22) -> dict[str, Any]:
    """Geometry of a horizontal bar chart for the template's SVG.

    The label column is as wide as the longest label (long ones are shortened, the
    full text is the bar's tooltip); room is left after the longest bar for its value.
    """
    top = max((n for _, n in pairs), default=0) or 1
    short = [label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…" for label, _ in pairs]
    label_w = min(width // 2, 12 + 8 * max((len(s) for s in short), default=0))
    room = width - label_w - VALUE_ROOM
    rows = [{"label": s, "title": label, "value": n, "y": i * (bar + 8), "w": round(room * n / top)}
            for i, (s, (label, n)) in enumerate(zip(short, pairs, strict=True))]
    return {"rows": rows, "height": max(1, len(rows)) * (bar + 8), "bar": bar, "width": width,
            "x": label_w}
