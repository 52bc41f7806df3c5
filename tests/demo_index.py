"""The demo knowledge base indexed once per test run (see `tests/conftest.py`)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bots.config import EmbeddingSettings
from knowledge.embedder import load_embedder
from knowledge.index import KnowledgeIndex
from pipelines.ingest.run import IngestReport, ingest

DEMO_DOCS = Path(__file__).resolve().parents[1] / "knowledge" / "docs"


@dataclass(frozen=True)
class DemoBuild:
    """The demo knowledge base's index folder and the report of the ingest that built it."""

    folder: Path
    report: IngestReport

    def copy_to(self, target: Path) -> Path:
        """A private copy of the index at `target` (which must not exist yet)."""
        shutil.copytree(self.folder, target)
        return target


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Encode on one thread while indexing.

    With two cores shared with other work, torch's thread pool oversubscribes
    them and the one-query-at-a-time calibration of an ingest gets about ten
    times slower (when the configured model is a sentence-transformers one).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_demo(folder: Path) -> DemoBuild:
    """`sovetnik kb ingest knowledge/docs --index folder` with the default embedder."""
    config = EmbeddingSettings().model
    embedder = load_embedder(config)
    with one_torch_thread():
        report = ingest([DEMO_DOCS], KnowledgeIndex(folder, lambda: embedder), embedder_config=config)
    assert report.added and not report.skipped, report
    return DemoBuild(folder, report)
