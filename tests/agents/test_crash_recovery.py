"""Crash safety with real processes: SIGKILL in the middle of an agent turn, then a restart.

The first product process stores a customer's message and hangs inside the
agent turn (the fake model answers only after minutes); it is killed with
SIGKILL there. A second process on the same database and config (started
meanwhile, so its imports overlap the first one's run, and told to go only
after the kill) recovers the message: exactly one reply, queued exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from knowledge.index import KnowledgeIndex
from store import Database
from store.models import Author, InboxStatus
from tests.agents.helpers import (
    REPO_ROOT,
    ROLES_DIR,
    authored,
    dialog_messages,
    inbox_items,
    outbox_items,
    texts,
    wait_for,
)
from tests.fakes.openai_server import FakeOpenAI, delay, text

WORKER = Path(__file__).with_name("crash_worker.py")
DIALOG = "crash-dialog"
QUESTION = "Какая сумма вкладов застрахована государством?"
ANSWER = "Вклады застрахованы на сумму до 1,4 млн ₽ на одного клиента в одном банке."
HANG_S = 120.0  # the first turn's model call: far longer than the test waits
START_S = 60.0  # a process start: imports, migrations, the index
EXIT_S = 10.0
RECOVER_S = 90.0


def write_config(folder: Path, db_url: str, index_dir: Path, llm_url: str) -> Path:
    config = folder / "config.yaml"
    config.write_text(
        f"store: {{url: '{db_url}'}}\n"
        f"knowledge: {{index_dir: '{index_dir}'}}\n"
        f"agents: {{roles_dir: '{ROLES_DIR}', default_role: front_desk}}\n"
        f"llm: {{provider: openai, base_url: '{llm_url}', model: local-model, api_key: sk-test,\n"
        f"       timeout_s: {HANG_S + 60}, max_steps: 3, turn_deadline_s: {HANG_S + 60}}}\n",
        encoding="utf-8")
    return config


async def spawn(config: Path, *args: str, log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), str(config), *args, cwd=REPO_ROOT, stdin=asyncio.subprocess.PIPE,
            stdout=out, stderr=asyncio.subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})


async def stop(process: asyncio.subprocess.Process) -> None:
    """Kill a worker still running (the test failed midway) and reap it."""
    if process.returncode is None:
        process.kill()
        await asyncio.wait_for(process.wait(), EXIT_S)
    if process.stdin is not None:
        process.stdin.close()


async def test_a_message_cut_off_by_a_crash_is_answered_exactly_once_after_restart(
        tmp_path: Path, demo_index: KnowledgeIndex, llm: FakeOpenAI) -> None:
    requests_seen = 0

    def model(body: dict[str, Any]) -> Any:
        nonlocal requests_seen
        requests_seen += 1
        return delay(HANG_S, text("Этот ответ никто не дождётся.")) if requests_seen == 1 else text(ANSWER)

    llm.responder = model
    db_url = f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    db = Database.from_url(db_url)
    await db.migrate()
    config = write_config(tmp_path, db_url, demo_index.folder, llm.base_url)
    first = await spawn(config, "accept", DIALOG, "crash-1", QUESTION, log=tmp_path / "first.log")
    second = await spawn(config, "recover", log=tmp_path / "second.log")
    try:
        async def stored() -> bool:
            return len(await inbox_items(db)) == 1

        await wait_for(stored, "the message in the inbox", timeout=START_S, interval=0.2)
        await llm.wait_requests(1, timeout=START_S)  # the first process is inside the agent turn
        assert await outbox_items(db, channel=None) == []
        first.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(first.wait(), EXIT_S) == -signal.SIGKILL
        [item] = await inbox_items(db)
        assert item.status == InboxStatus.PENDING
        assert not authored(await dialog_messages(db, DIALOG), Author.AGENT)

        assert second.stdin is not None and second.returncode is None
        second.stdin.write(b"go\n")
        await second.stdin.drain()
        code = await asyncio.wait_for(second.wait(), START_S + RECOVER_S)
        output = (tmp_path / "second.log").read_text(encoding="utf-8", errors="replace")
        assert code == 0, output[-3000:]
        assert json.loads(output.strip().splitlines()[-1]) == {"recovered": 1}

        [done] = await inbox_items(db)
        assert done.status == InboxStatus.DONE
        stored_messages = await dialog_messages(db, DIALOG)
        customer = authored(stored_messages, Author.CUSTOMER)
        assert [(m.text, m.inbox_id) for m in customer] == [(QUESTION, done.id)]
        assert [m.text for m in authored(stored_messages, Author.AGENT)] == [ANSWER]
        queued = [i for i in await outbox_items(db, channel=None) if i.inbox_id == done.id]
        assert texts(queued) == [ANSWER]
        assert requests_seen == 2
    finally:
        await stop(first)
        await stop(second)
        await db.dispose()
