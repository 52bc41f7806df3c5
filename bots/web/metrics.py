"""Prometheus metrics, read from the store at scrape time.

The store is the truth every process shares, so the figures are the same
whichever process is scraped, and no module keeps counters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlmodel import col

from bots.runtime import Runtime
from store.models import Dialog, InboxItem, OutboxItem


async def metrics_text(runtime: Runtime) -> str:
    """The exposition text of the current figures."""
    async with runtime.db.session() as session:
        dialogs = (await session.execute(
            sa.select(col(Dialog.status), sa.func.count()).group_by(col(Dialog.status)))).all()
        inbox = (await session.execute(
            sa.select(col(InboxItem.status), sa.func.count()).group_by(col(InboxItem.status)))).all()
        outbox = (await session.execute(
            sa.select(col(OutboxItem.status), sa.func.count()).group_by(col(OutboxItem.status)))).all()
    registry = CollectorRegistry()
    registry.register(_Snapshot({
        "sovetnik_dialogs": ("Dialogs by status.", dialogs),
        "sovetnik_inbox_items": ("Inbound messages by processing status.", inbox),
        "sovetnik_outbox_items": ("Outgoing messages by delivery status.", outbox),
    }))
    return generate_latest(registry).decode()


class _Snapshot:
    def __init__(self, families: dict[str, tuple[str, Sequence[Any]]]) -> None:
        self._families = families

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (doc, rows) in self._families.items():
            family = GaugeMetricFamily(name, doc, labels=["status"])
            for status, count in rows:
                family.add_metric([str(status)], float(count))
            yield family
