"""The offline acceptance run on the seed documents, as an operator runs it from the shell.

`sovetnik kb ingest SEED_001 SEED_002 --index DIR` into a fresh folder, then one
`sovetnik ask --questions FILE --json --index DIR` over the dev set of
`../shared/eval` plus `UNANSWERABLE`. The two commands take a while (the
embedding model), so the conftest starts them in a background thread as soon
as collection shows they are needed, and the tests wait for the result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.agents.helpers import REPO_ROOT, ROLES_DIR, SHARED

DEV_QA = SHARED / "eval" / "dev_qa.jsonl"
SEEDS = SHARED / "seeds"
INGEST_TIMEOUT_S = 400.0
ASK_TIMEOUT_S = 200.0

# Questions no seed answers: the customer must be told so, or handed to a person,
# and never be given a figure that came from nowhere.
UNANSWERABLE = {
    "u-usd": "Какой сегодня курс доллара?",
    "u-saturday": "Работает ли ваше отделение на улице Ленина в субботу?",
    "u-stocks": "Какие акции сейчас лучше купить?",
    "u-rate": "Какая ставка по вкладу на 6 месяцев?",
    "u-rate-named": "Сколько процентов годовых по вкладу «Накопительный плюс»?",
}


def seed_files() -> list[Path]:
    """Seeds 001 (deposits) and 002 (loans); empty when `../shared` is not there."""
    found = sorted(SEEDS.glob("001_*.txt"))[:1] + sorted(SEEDS.glob("002_*.txt"))[:1]
    return found if len(found) == 2 and DEV_QA.is_file() else []


def missing_reason() -> str:
    return (f"{SHARED.resolve()} with seeds/001_*.txt, seeds/002_*.txt and eval/dev_qa.jsonl "
            "is expected beside the clone")


def dev_set() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DEV_QA.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class SeedRun:
    """What the commands printed: the ingest report and every `ask` reply by id."""

    ingest_report: str
    answers: dict[str, dict[str, Any]]
    index: Path | None = None  # the seed index, for further commands over it


class SeedJob:
    """Runs the two commands in a background thread; `result` waits for them."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="sovetnik-seed-acceptance-"))
        self._thread = threading.Thread(target=self._run, name="seed-acceptance", daemon=True)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._closed = False
        self._run_result: SeedRun | None = None
        self._error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def result(self, timeout: float = INGEST_TIMEOUT_S + ASK_TIMEOUT_S) -> SeedRun:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the seed acceptance commands did not finish within {timeout} s")
        if self._error is not None:
            raise AssertionError(self._error)
        assert self._run_result is not None
        return self._run_result

    def close(self) -> None:
        """Stop a command still running (an interrupted session) and remove the folder."""
        with self._lock:
            self._closed = True
            process = self._process
        if process is not None and process.poll() is None:
            process.kill()
        if self._thread.ident is not None:
            self._thread.join(30)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._run_result = self._commands()
        except Exception as exc:  # reported by `result`, in the test that waits for it
            self._error = f"{type(exc).__name__}: {exc}"

    def _commands(self) -> SeedRun:
        config = self.folder / "config.yaml"
        config.write_text(f"llm: {{provider: offline}}\nagents: {{roles_dir: '{ROLES_DIR}'}}\n"
                          f"knowledge: {{index_dir: '{self.folder / 'unused-index'}'}}\n", encoding="utf-8")
        index = self.folder / "index"
        report = self._sovetnik(["--config", config, "kb", "ingest", *seed_files(), "--index", index],
                                INGEST_TIMEOUT_S)
        questions = self.folder / "questions.jsonl"
        lines = [json.dumps(q, ensure_ascii=False) for q in dev_set()]
        lines += [json.dumps({"id": qid, "q": q}, ensure_ascii=False) for qid, q in UNANSWERABLE.items()]
        questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = self._sovetnik(["--config", config, "ask", "--questions", questions, "--json",
                              "--index", index], ASK_TIMEOUT_S)
        replies = [json.loads(line) for line in out.splitlines() if line.strip()]
        return SeedRun(report, {reply["id"]: reply for reply in replies}, index)

    def _sovetnik(self, args: list[Any], timeout: float) -> str:
        command = [str(Path(sys.executable).with_name("sovetnik")), *map(str, args)]
        with self._lock:
            if self._closed:
                raise RuntimeError("the test session ended first")
            # One thread for torch: the test process embeds its own index at the same time
            # on a small machine, and two processes with two threads each thrash.
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            self._process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True, env=env)
        process = self._process
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise AssertionError(f"{' '.join(command[1:])}: no result within {timeout} s") from None
        if process.returncode != 0:
            raise AssertionError(f"{' '.join(command[1:])} exited with {process.returncode}:\n"
                                 f"{stderr[-3000:]}")
        return stdout
