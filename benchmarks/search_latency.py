"""Search latency p50/p95 per mode at 1k, 10k and 100k chunks of synthetic Russian text.

Chunks are random sentences over the vocabulary of the real documents, so
BM25 sees a realistic Russian term distribution. Their vectors are random
unit vectors of the embedder's size (embedding 100k passages on a laptop CPU
takes hours, and vector search cost does not depend on what the vectors
mean); queries are embedded by the real model, so its cost is included.
Hybrid is measured with the dense retriever switched on (weight 0.5), i.e.
the slowest path.
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, SEEDS, machine, percentiles, timed

from bots.assembly import knowledge_index
from bots.config import Settings
from knowledge.fusion import FusionWeights
from knowledge.manifest import Manifest, SourceEntry
from knowledge.types import Chunk

QUERIES = 200


def vocabulary() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in SEEDS]
    texts += [p.read_text(encoding="utf-8") for p in (ROOT / "knowledge/docs").rglob("*.md")]
    words = re.findall(r"[а-яё]{3,}", " ".join(texts).lower())
    return words  # with repetitions: sampling follows the real word frequencies


def synthetic_chunks(n: int, words: list[str], rng: random.Random) -> list[Chunk]:
    chunks = []
    for i in range(n):
        sentences = [" ".join(rng.choices(words, k=rng.randint(8, 14))).capitalize() + "."
                     for _ in range(rng.randint(4, 7))]
        chunks.append(Chunk(f"c{i:07d}", " ".join(sentences)[:990], "synthetic.md",
                            (f"Раздел {i // 20}",), (), i))
    return chunks


def build(folder: Path, n: int, words: list[str]) -> float:
    """Write n chunks straight into an index folder; return seconds taken."""
    start = time.perf_counter()
    index = knowledge_index(Settings(), folder)
    rng = random.Random(n)
    chunks = synthetic_chunks(n, words, rng)
    lemmas = [" ".join(index.lemmatizer.lemmas(c.indexed_text())) for c in chunks]
    dim = index.embedder.dimension
    vectors = np.random.default_rng(n).standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index.store.upsert(chunks, lemmas, vectors, [{} for _ in chunks])
    manifest = Manifest(embedder=index.embedder.name, dimension=dim, generation=1,
                        weights=FusionWeights(1.0, 0.5, "benchmark: dense on"),
                        sources={"synthetic": SourceEntry("synthetic.md", "-", [c.id for c in chunks])})
    manifest.save(folder)
    return time.perf_counter() - start


def measure(folder: Path, words: list[str]) -> dict[str, tuple[float, float]]:
    index = knowledge_index(Settings(), folder)
    load_ms = timed(index.snapshot)
    rng = random.Random(7)
    queries = [" ".join(rng.choices(words, k=rng.randint(3, 7))) for _ in range(QUERIES)]
    out = {"snapshot load (ms)": (load_ms, load_ms)}
    for mode in ("bm25", "dense", "hybrid"):
        for q in queries[:10]:
            index.search(q, 5, mode)  # warm-up: model, caches
        out[mode] = percentiles([timed(lambda q=q, m=mode: index.search(q, 5, m)) for q in queries])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    args = parser.parse_args()
    words = vocabulary()
    print(f"# {machine()}\n# {QUERIES} queries per mode, k=5")
    print("| chunks | build, s | bm25 p50/p95, ms | dense p50/p95, ms | hybrid p50/p95, ms |")
    print("|---|---|---|---|---|")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            built = build(Path(tmp), n, words)
            r = measure(Path(tmp), words)
            cells = " | ".join(f"{r[m][0]:.1f} / {r[m][1]:.1f}" for m in ("bm25", "dense", "hybrid"))
            print(f"| {n} | {built:.0f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
