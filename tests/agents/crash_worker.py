"""A product process for the crash test: the engine built from a config, as `sovetnik serve` builds it.

    python tests/agents/crash_worker.py CONFIG accept DIALOG UPDATE_ID TEXT
        stores one customer message through `ConversationEngine.accept` and waits
        while it is answered (the crash test kills the process in the middle);
    python tests/agents/crash_worker.py CONFIG recover
        starts up, waits for a line on stdin (the test sends it once the first
        process is dead), then answers whatever that process left pending
        (`recover`, `idle`).

Prints one JSON line with what it did. Every wait is bounded by WAIT_S.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bots import assembly
from bots.config import load_settings
from bots.engine import ConversationEngine
from bots.messages import InboundMessage
from store import Database

WAIT_S = 120.0


async def main(config: Path, action: str, args: list[str]) -> int:
    settings = load_settings(config, required=True)
    db = Database.from_url(settings.store.url.get_secret_value())
    await db.migrate()
    index = assembly.knowledge_index(settings)
    agent = assembly.agent(settings, index, assembly.role_registry(settings))
    engine = ConversationEngine(db, agent, settings.agents.default_role)
    try:
        if action == "accept":
            dialog_key, update_id, text = args
            inbox_id = await engine.accept(InboundMessage(
                channel="webchat", external_update_id=update_id, dialog_key=dialog_key,
                user_ref=f"user-{dialog_key}", text=text))
            print(json.dumps({"accepted": inbox_id}), flush=True)
            await engine.idle(WAIT_S)
            return 3  # the turn finished although the test meant to kill the process during it
        await _go_signal()
        recovered = await engine.recover()
        await engine.idle(WAIT_S)
        print(json.dumps({"recovered": recovered}), flush=True)
        return 0
    finally:
        await engine.close()
        client = getattr(getattr(agent.answerer, "model", None), "root_async_client", None)
        if client is not None:
            await client.close()
        await db.dispose()


async def _go_signal() -> None:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        if not await asyncio.wait_for(reader.readline(), WAIT_S):
            raise SystemExit("stdin closed before the go signal")
    finally:
        transport.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:])))
