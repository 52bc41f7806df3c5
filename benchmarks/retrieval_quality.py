"""Retrieval and offline-answer quality per mode.

Two sets: the dev set over a fresh index of seeds 001 + 002 (the acceptance
figures), and the product's own demo questions over the demo knowledge base.
"Answers carry" is the share of offline-mode agent answers that contain the
expected fact (same rule as for chunks).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from _common import DEV_SET, ROOT, SEEDS, machine

from agents.turn import TurnInput
from bots import assembly
from bots.config import Settings
from knowledge.evaluation import carries, first_relevant_rank, score
from pipelines.ingest.run import ingest

SETS = {
    "dev set (seeds 001 + 002)": (SEEDS, DEV_SET),
    "demo questions (knowledge/docs)": ([ROOT / "knowledge/docs"], ROOT / "tests/data/demo_qa.jsonl"),
}


def measure(name: str, inputs: list[Path], questions_file: Path) -> None:
    settings = Settings(base_dir=ROOT)
    questions = [json.loads(line) for line in questions_file.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        index = assembly.knowledge_index(settings, Path(tmp))
        report = ingest(inputs, index, embedder_config=settings.embeddings.model)
        sizes = [len(c.text) for c in index.snapshot().chunks]
        print(f"\n## {name}: {len(questions)} questions, {len(sizes)} chunks (longest {max(sizes)})")
        print(f"# embedder: {index.embedder.name}; {report.weights}")
        print("| mode | hit@1 | hit@3 | hit@5 | MRR@10 |\n|---|---|---|---|---|")
        for mode in ("bm25", "dense", "hybrid"):
            ranks = [first_relevant_rank([h.chunk.text for h in index.search(q["q"], 10, mode)],
                                         q["expect_any"]) for q in questions]
            s = score(ranks)
            print(f"| {mode} | {s.hit_at_1:.3f} | {s.hit_at_3:.3f} | {s.hit_at_5:.3f} | {s.mrr_at_10:.3f} |")
        agent = assembly.agent(settings, index)
        replies = [asyncio.run(agent.respond(TurnInput(q["q"], settings.agents.default_role)))
                   for q in questions]
        carried = sum(carries(r.text, q["expect_any"]) for r, q in zip(replies, questions, strict=True))
        print(f"\noffline answers carry the expected fact: {carried}/{len(questions)} "
              f"= {carried / len(questions):.3f}")


def main() -> None:
    print(f"# {machine()}")
    for name, (inputs, questions) in SETS.items():
        measure(name, inputs, questions)


if __name__ == "__main__":
    main()
