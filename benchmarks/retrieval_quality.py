"""Retrieval quality per mode on the dev set, over a fresh index of seeds 001 and 002."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from _common import DEV_SET, SEEDS, machine

from bots.assembly import knowledge_index
from bots.config import Settings
from knowledge.evaluation import first_relevant_rank, score
from pipelines.ingest.run import ingest


def main() -> None:
    settings = Settings()
    questions = [json.loads(line) for line in DEV_SET.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        index = knowledge_index(settings, Path(tmp))
        report = ingest(SEEDS, index, embedder_config=settings.embeddings.model)
        print(f"# {machine()}\n# embedder: {index.embedder.name}; {report.weights}")
        sizes = [len(c.text) for c in index.snapshot().chunks]
        print(f"# chunks: {len(sizes)}, longest {max(sizes)} characters")
        print("| mode | hit@1 | hit@3 | hit@5 | MRR@10 |\n|---|---|---|---|---|")
        for mode in ("bm25", "dense", "hybrid"):
            ranks = [first_relevant_rank([h.chunk.text for h in index.search(q["q"], 10, mode)],
                                         q["expect_any"]) for q in questions]
            s = score(ranks)
            print(f"| {mode} | {s.hit_at_1:.3f} | {s.hit_at_3:.3f} | {s.hit_at_5:.3f} | {s.mrr_at_10:.3f} |")


if __name__ == "__main__":
    main()
