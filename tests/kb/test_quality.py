"""The acceptance figure: retrieval quality on the dev set, measured through `sovetnik kb eval`."""

from __future__ import annotations

import pytest

from tests.kb.conftest import DEV_QA, BuiltIndex, Cli


def _eval(cli: Cli, kb: BuiltIndex, mode: str) -> dict:
    lines = cli.json_lines("kb", "eval", DEV_QA, "--index", kb.folder, "--mode", mode, "--json")
    assert len(lines) == 1
    return lines[0]


def test_dev_set_quality_floor(seeds_kb: BuiltIndex, cli: Cli) -> None:
    if not DEV_QA.exists():
        pytest.skip(f"{DEV_QA.resolve()} not found (../shared is expected beside the clone)")
    questions = sum(1 for line in DEV_QA.read_text(encoding="utf-8").splitlines() if line.strip())
    hybrid = _eval(cli, seeds_kb, "hybrid")
    bm25 = _eval(cli, seeds_kb, "bm25")
    assert hybrid["questions"] == bm25["questions"] == questions
    assert hybrid["hit@1"] >= 0.80, hybrid
    assert hybrid["hit@5"] >= 0.95, hybrid
    assert hybrid["hit@1"] >= bm25["hit@1"], (hybrid, bm25)
    assert hybrid["mrr@10"] >= bm25["mrr@10"], (hybrid, bm25)
