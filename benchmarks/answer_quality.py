"""Retrieval per mode and offline answers: carried, false refusals, unanswerable flagged.

Question sets (JSONL with `id`, `q`, and `expect_any` or `"unanswerable": true`):
- the dev set over seeds 001 + 002 (`../shared/eval/dev_qa.jsonl`);
- held-out questions over the same seeds (`benchmarks/data/heldout_seeds.jsonl`),
  written in customers' words and never tuned on;
- the demo questions and held-out demo questions over `knowledge/docs`;
- a tuning set over both (`benchmarks/data/tuning.jsonl`): ours to improve on,
  unlike the held-out sets.

An answerable question is *carried* when the answer contains an expected fact,
a *false refusal* when the agent refused or handed off instead. An
unanswerable one is *flagged* when the reply is `grounded: false` or a handoff,
and *invented* when it is neither and shows a figure. Indexes are kept under
`var/bench/` between runs (ingest is incremental). Run:

    .venv/bin/python benchmarks/answer_quality.py [--set NAME] [--misses]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from _common import DEV_SET, ROOT, SEEDS, machine

from agents.turn import Reply, TurnInput
from bots import assembly
from bots.config import Settings
from knowledge.evaluation import carries, first_relevant_rank, score
from knowledge.index import KnowledgeIndex
from pipelines.ingest.run import ingest

DATA = ROOT / "benchmarks" / "data"
DEMO = [ROOT / "knowledge" / "docs"]
# name: (index kind, inputs, questions file, the `doc` values kept — None: all)
SETS: dict[str, tuple[str, list[Path], Path, str | None]] = {
    "dev": ("seeds", SEEDS, DEV_SET, None),
    "tuning-seeds": ("seeds", SEEDS, DATA / "tuning.jsonl", "seeds"),
    "heldout-seeds": ("seeds", SEEDS, DATA / "heldout_seeds.jsonl", None),
    "demo": ("demo", DEMO, ROOT / "tests" / "data" / "demo_qa.jsonl", None),
    "tuning-demo": ("demo", DEMO, DATA / "tuning.jsonl", "demo"),
    "heldout-demo": ("demo", DEMO, DATA / "heldout_demo.jsonl", None),
}


@dataclass
class Tally:
    """Counts for one question set."""

    answerable: int = 0
    carried: int = 0
    refused: int = 0
    unanswerable: int = 0
    flagged: int = 0
    invented: int = 0
    misses: list[str] = field(default_factory=list)


def refused(reply: Reply) -> bool:
    """The agent declined (no grounded answer) or passed the question to a person."""
    return reply.handoff or not reply.grounded


def tally(questions: list[dict], replies: list[Reply]) -> Tally:
    t = Tally()
    for q, r in zip(questions, replies, strict=True):
        if q.get("unanswerable"):
            t.unanswerable += 1
            if refused(r):
                t.flagged += 1
            elif re.search(r"\d", r.text):
                t.invented += 1
                t.misses.append(f"INVENTED {q['id']} {q['q']!r} -> {r.text[:300]!r}")
            elif not refused(r):
                t.misses.append(f"ANSWERED {q['id']} {q['q']!r} -> {r.text[:300]!r}")
            continue
        t.answerable += 1
        if carries(r.text, q["expect_any"]):
            t.carried += 1
            continue
        t.refused += refused(r)
        t.misses.append(f"MISS {q['id']} {q['q']!r} -> {r.text[:300]!r}")
    return t


def retrieval(index: KnowledgeIndex, questions: list[dict]) -> list[str]:
    rows = ["| mode | hit@1 | hit@3 | hit@5 | MRR@10 |", "|---|---|---|---|---|"]
    answerable = [q for q in questions if not q.get("unanswerable")]
    for mode in ("bm25", "dense", "hybrid"):
        ranks = [first_relevant_rank([h.chunk.text for h in index.search(q["q"], 10, mode)],
                                     q["expect_any"]) for q in answerable]
        s = score(ranks)
        cells = (s.hit_at_1, s.hit_at_3, s.hit_at_5, s.mrr_at_10)
        rows.append(f"| {mode} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return rows


async def answer_all(settings: Settings, index: KnowledgeIndex, questions: list[dict]) -> list[Reply]:
    agent = assembly.agent(settings, index)
    try:
        return [await agent.respond(TurnInput(q["q"], settings.agents.default_role)) for q in questions]
    finally:
        await agent.aclose()


def measure(name: str, show_misses: bool) -> None:
    kind, inputs, path, doc = SETS[name]
    if not path.exists():
        print(f"\n## {name}: {path} is missing, skipped")
        return
    questions = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [q for q in questions if doc is None or q.get("doc") == doc]
    settings = Settings(base_dir=ROOT)
    index = assembly.knowledge_index(settings, ROOT / "var" / "bench" / kind)
    ingest(inputs, index, embedder_config=settings.embeddings.model)
    t = tally(questions, asyncio.run(answer_all(settings, index, questions)))
    print(f"\n## {name}: {len(questions)} questions; embedder {index.embedder.name}; "
          f"{index.manifest.weights.reason}")
    print("\n".join(retrieval(index, questions)))
    if t.answerable:
        print(f"answers carry the fact: {t.carried}/{t.answerable} = {t.carried / t.answerable:.3f}; "
              f"false refusals {t.refused}/{t.answerable} = {t.refused / t.answerable:.3f}")
    if t.unanswerable:
        print(f"unanswerable flagged: {t.flagged}/{t.unanswerable}; invented figures: {t.invented}")
    if show_misses:
        print("\n".join(t.misses))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), action="append")
    parser.add_argument("--misses", action="store_true", help="print each missed question")
    args = parser.parse_args()
    print(f"# {machine()}")
    for name in args.set or list(SETS):
        measure(name, args.misses)


if __name__ == "__main__":
    main()
