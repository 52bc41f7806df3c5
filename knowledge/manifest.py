"""The index manifest: which file produced which chunks, and fusion weights.

Kept as a small JSON file beside the chromadb folder so that an ingest run
with nothing changed can answer from it alone, without opening the vector
store or loading the embedding model.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from knowledge.fusion import FusionWeights

MANIFEST = "manifest.json"


@dataclass
class SourceEntry:
    """One ingested file: its content hash and the ids of its chunks."""

    source: str
    sha256: str
    chunk_ids: list[str]


@dataclass
class Manifest:
    """Everything the index knows about its inputs."""

    embedder: str | None = None  # the model actually loaded when the vectors were made
    dimension: int | None = None
    embedder_config: str | None = None  # the `embeddings.model` setting it was built under
    sources: dict[str, SourceEntry] = field(default_factory=dict)
    weights: FusionWeights = field(default_factory=FusionWeights)
    generation: int = 0
    # The cosine similarity above which the knowledge base is taken to be about a
    # question (see `knowledge.calibrate.answerability`); None before calibration.
    min_similarity: float | None = None

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        """Read the manifest, or an empty one for a new folder."""
        path = folder / MANIFEST
        if not path.exists():
            return cls()
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            embedder=raw.get("embedder"),
            dimension=raw.get("dimension"),
            embedder_config=raw.get("embedder_config"),
            sources={k: SourceEntry(**v) for k, v in raw.get("sources", {}).items()},
            weights=FusionWeights(**raw.get("weights", {})),
            generation=int(raw.get("generation", 0)),
            min_similarity=raw.get("min_similarity"),
        )

    def save(self, folder: Path) -> None:
        """Write atomically: readers in other processes never see half a file."""
        folder.mkdir(parents=True, exist_ok=True)
        data = {
            "embedder": self.embedder, "dimension": self.dimension,
            "embedder_config": self.embedder_config, "generation": self.generation,
            "weights": self.weights.as_dict(), "min_similarity": self.min_similarity,
            "sources": {k: asdict(v) for k, v in sorted(self.sources.items())},
        }
        tmp = folder / f".{MANIFEST}.{os.getpid()}"
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(folder / MANIFEST)


def stamp(folder: Path) -> int:
    """A cheap change marker for the manifest (0 when absent)."""
    try:
        return (folder / MANIFEST).stat().st_mtime_ns
    except FileNotFoundError:
        return 0
