"""`sovetnik ask --questions` in LLM mode: every dev question on one event loop, no fallback.

The scripted server behaves like an open model behind llama-server: it first
writes a `knowledge_search` call as text (a different form each question),
then answers with the passage the search returned.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from tests.agents.helpers import REPO_ROOT, ROLES_DIR
from tests.agents.seed_job import DEV_QA, SeedRun, dev_set
from tests.fakes.openai_server import TEXT_CALL_FORMS, FakeOpenAI, Message, text, text_tool_call

ASK_TIMEOUT_S = 300.0
_PASSAGE = re.compile(r"<passage [^>]*>\n(.*?)\n</passage>", re.DOTALL)


class SearchThenQuote:
    """The scripted model: a textual search call, then the first passage found, quoted."""

    def __init__(self) -> None:
        self.forms = itertools.cycle(TEXT_CALL_FORMS)

    def __call__(self, body: dict[str, Any]) -> Message:
        last = body["messages"][-1]
        if last["role"] == "tool":
            found = _PASSAGE.findall(last["content"])
            return text(_sentences(found[0]) if found else "Точной информации в базе знаний нет.")
        return text_tool_call("knowledge_search", {"query": last["content"]}, form=next(self.forms))


def _sentences(passage: str, limit: int = 600) -> str:
    out = ""
    for sentence in re.findall(r"[^.!?]+[.!?]*", passage):
        if len(out) + len(sentence) > limit:
            break
        out += sentence
    return out.strip() or passage[:limit]


async def run_ask(config: Path, index: Path) -> tuple[int, str, str]:
    command = [str(Path(sys.executable).with_name("sovetnik")), "--config", str(config), "ask",
               "--questions", str(DEV_QA), "--json", "--index", str(index)]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        out, err = await asyncio.wait_for(process.communicate(), ASK_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.communicate()
        raise
    return process.returncode or 0, out.decode(), err.decode()


async def test_ask_answers_every_dev_question_in_llm_mode(seed_run: SeedRun, tmp_path: Path) -> None:
    assert seed_run.index is not None
    async with FakeOpenAI() as llm:
        llm.responder = SearchThenQuote()
        config = tmp_path / "config.yaml"
        config.write_text(
            f"llm: {{provider: openai, base_url: '{llm.base_url}', model: local-model, api_key: sk-test}}\n"
            f"agents: {{roles_dir: '{ROLES_DIR}'}}\n", encoding="utf-8")

        code, out, err = await run_ask(config, seed_run.index)

    assert code == 0, err[-2000:]
    assert "Event loop is closed" not in err
    replies = [json.loads(line) for line in out.splitlines() if line.strip()]
    questions = dev_set()
    assert [r["id"] for r in replies] == [q["id"] for q in questions]
    for reply in replies:
        assert {"id", "answer", "sources", "grounded", "handoff", "role", "mode"} <= set(reply)
        notes = reply["notes"]
        assert reply["mode"] == "llm", (reply["id"], notes)
        assert notes["fallback_reason"] is None, (reply["id"], notes)
        assert "knowledge_search" in notes["tools"], (reply["id"], notes)
        assert not re.search(r"knowledge_search|\"name\"|<tool|<function|```", reply["answer"]), reply
    assert len(llm.requests) == 2 * len(questions)
