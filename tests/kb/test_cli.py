"""The `sovetnik kb` command-line contract that scripts and operators rely on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kb.conftest import DEMO_DOCS, BuiltIndex, Cli, write_config

REPORT_LINE = re.compile(r"^added: (\d+)  updated: (\d+)  removed: (\d+)  skipped: (\d+)\b", re.MULTILINE)


def _report(stdout: str) -> tuple[int, ...]:
    found = REPORT_LINE.search(stdout)
    assert found, stdout
    return tuple(int(n) for n in found.groups())


def _check_results(results: list, k: int) -> None:
    assert 1 <= len(results) <= k
    for r in results:
        assert isinstance(r["text"], str) and r["text"]
        assert isinstance(r["source"], str) and r["source"]
        assert isinstance(r["score"], int | float)


def test_ingest_prints_the_report(tmp_path: Path, cli: Cli) -> None:
    docs = tmp_path / "docs"
    (docs / "loans").mkdir(parents=True)
    (docs / "loans" / "a.md").write_text("# Кредит\n\nКредит выдается на срок до пяти лет.\n",
                                         encoding="utf-8")
    (docs / "b.md").write_text("# Вклад\n\nВклад открывается онлайн за пять минут.\n", encoding="utf-8")
    (docs / "c.txt").write_bytes(b"")
    index = tmp_path / "index"

    first = cli("kb", "ingest", docs, "--index", index)
    assert first.exit_code == 0, (first.stdout, first.stderr)
    assert _report(first.stdout) == (2, 0, 0, 1)
    assert "c.txt" in first.stdout  # the skipped file is named with its reason

    (docs / "b.md").write_text("# Вклад\n\nВклад открывается онлайн за десять минут.\n", encoding="utf-8")
    (docs / "loans" / "a.md").unlink()
    second = cli("kb", "ingest", docs, "--index", index)
    assert second.exit_code == 0, (second.stdout, second.stderr)
    assert _report(second.stdout) == (0, 1, 1, 1)

    third = cli("kb", "ingest", docs, "--index", index)
    assert _report(third.stdout) == (0, 0, 0, 1)


def test_search_json_prints_one_object(demo_kb: BuiltIndex, cli: Cli) -> None:
    lines = cli.json_lines("kb", "search", "Какая сумма вкладов застрахована?", "--index", demo_kb.folder,
                           "-k", "3", "--json")
    assert len(lines) == 1
    _check_results(lines[0]["results"], 3)
    assert any("1,4 млн" in r["text"] for r in lines[0]["results"])


def test_search_text_output_is_readable(demo_kb: BuiltIndex, cli: Cli) -> None:
    result = cli("kb", "search", "ипотека", "--index", demo_kb.folder, "-k", "2")
    assert result.exit_code == 0, result.stderr
    assert "loans/mortgage.md" in result.stdout


def test_search_queries_file_prints_one_line_per_query(demo_kb: BuiltIndex, cli: Cli, tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    rows = [{"id": "q1", "q": "Какая сумма вкладов застрахована?"},
            {"id": 2, "q": "Как досрочно погасить кредит?", "extra": "ignored"},
            {"id": "q3", "q": "Часы работы отделения"}]
    queries.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:2]) + "\n\n"
                       + json.dumps(rows[2], ensure_ascii=False) + "\n", encoding="utf-8")
    for mode in ("hybrid", "bm25"):
        lines = cli.json_lines("kb", "search", "--queries", queries, "--index", demo_kb.folder,
                               "-k", "4", "--mode", mode)
        assert [(line["id"], line["q"]) for line in lines] == [(r["id"], r["q"]) for r in rows]
        for line in lines:
            assert {"id", "q", "results"} <= set(line)
            _check_results(line["results"], 4)


def test_eval_prints_the_metrics(demo_kb: BuiltIndex, cli: Cli, tmp_path: Path) -> None:
    questions = tmp_path / "qa.jsonl"
    questions.write_text(
        json.dumps({"id": "a", "q": "Какая сумма вкладов застрахована?", "expect_any": ["1,4 млн"]},
                   ensure_ascii=False) + "\n"
        + json.dumps({"id": "b", "q": "Есть ли ипотека для семей с детьми?", "expect_any": ["семейн"]},
                     ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    text = cli("kb", "eval", questions, "--index", demo_kb.folder)
    assert text.exit_code == 0, text.stderr
    for label in ("hit@1", "hit@3", "hit@5", "MRR@10"):
        assert re.search(rf"{re.escape(label)} [0-9.]+", text.stdout), text.stdout

    [scores] = cli.json_lines("kb", "eval", questions, "--index", demo_kb.folder, "--json")
    assert scores["questions"] == 2
    for key in ("hit@1", "hit@3", "hit@5", "mrr@10"):
        assert isinstance(scores[key], int | float) and 0 <= scores[key] <= 1
    assert scores["hit@1"] <= scores["hit@3"] <= scores["hit@5"]
    assert scores["hit@5"] == 1.0


@pytest.mark.parametrize("command", [["search", "вклад"], ["eval", "{qa}"]])
def test_unknown_mode_is_rejected(demo_kb: BuiltIndex, cli: Cli, tmp_path: Path, command: list[str]) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"id": 1, "q": "вклад", "expect_any": ["вклад"]}\n', encoding="utf-8")
    args = [a.format(qa=qa) for a in command]
    result = cli("kb", *args, "--index", demo_kb.folder, "--mode", "semantic")
    assert result.exit_code == 2
    assert "--mode" in result.stderr and "semantic" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["search", "eval"])
def test_broken_jsonl_line_is_named(demo_kb: BuiltIndex, cli: Cli, tmp_path: Path, command: str) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"id": 1, "q": "вклад", "expect_any": ["вклад"]}\n'
                    "\n"
                    '{"id": 2, "q": "кредит", "expect_any": ["кредит"]\n'
                    '{"id": 3, "q": "ипотека", "expect_any": ["ипотека"]}\n', encoding="utf-8")
    args = ["search", "--queries", path] if command == "search" else ["eval", path]
    result = cli("kb", *args, "--index", demo_kb.folder, "--mode", "bm25")
    assert result.exit_code == 2
    assert f"{path}:3" in result.stderr


def test_jsonl_line_without_required_fields_is_named(demo_kb: BuiltIndex, cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "fields.jsonl"
    path.write_text('{"id": 1, "q": "вклад"}\n', encoding="utf-8")
    result = cli("kb", "eval", path, "--index", demo_kb.folder, "--mode", "bm25")
    assert result.exit_code == 2
    assert f"{path}:1" in result.stderr and "expect_any" in result.stderr


def test_search_needs_a_query_or_a_file(demo_kb: BuiltIndex, cli: Cli) -> None:
    result = cli("kb", "search", "--index", demo_kb.folder)
    assert result.exit_code == 2
    assert result.stderr.strip()


def test_sovetnik_config_environment_variable_is_honoured(
    demo_kb: BuiltIndex, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, f"knowledge: {{docs_dir: {DEMO_DOCS}, index_dir: {demo_kb.folder}}}\n")
    monkeypatch.setenv("SOVETNIK_CONFIG", str(config))
    [found] = cli.json_lines("kb", "search", "ипотека", "--json", "--mode", "bm25")
    assert found["results"] and found["results"][0]["source"].startswith("loans/")
    # --config still wins over the variable.
    other = write_config(tmp_path / "other", f"knowledge: {{index_dir: {tmp_path / 'empty-index'}}}\n")
    [empty] = cli.json_lines("--config", other, "kb", "search", "ипотека", "--json", "--mode", "bm25")
    assert empty["results"] == []


def test_console_script_help(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "sovetnik"
    assert script.exists(), f"console script not installed at {script}"
    env = {**os.environ, "SOVETNIK_CONFIG": str(write_config(tmp_path))}
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "kb" in done.stdout
