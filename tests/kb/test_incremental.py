"""Incremental ingest: only what changed is read and embedded; deleted files disappear."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge.index import KnowledgeIndex
from knowledge.types import SearchMode
from pipelines.ingest.run import IngestReport, ingest
from tests.kb.conftest import EMBEDDER_CONFIG, Cli, EmbedderFactory, normal, write_config


def _section(title: str, topic: str, marker: str) -> str:
    sentences = " ".join(
        f"Пункт {i} о теме «{topic}» описывает условие для клиентов банка." for i in range(3)
    )
    return f"## {title}\n\n{sentences} Ключевое слово раздела: {marker}.\n"


FILES = {
    "deposits.md": "# Вклады\n\n" + _section("Открытие", "вклад", "ромашка")
    + "\n" + _section("Пополнение", "пополнение", "василек")
    + "\n" + _section("Закрытие", "закрытие", "одуванчик"),
    "loans.md": "# Кредиты\n\n" + _section("Заявка", "кредит", "колокольчик")
    + "\n" + _section("Погашение", "погашение", "незабудка"),
    "cards.md": "# Карты\n\n" + _section("Выпуск", "карта", "подсолнух"),
}


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _run(docs: Path, index_dir: Path, factory: EmbedderFactory) -> tuple[KnowledgeIndex, IngestReport]:
    """One ingest run as a fresh process would do it: a new index object, a new factory."""
    index = KnowledgeIndex(index_dir, factory)
    return index, ingest([docs], index, embedder_config=EMBEDDER_CONFIG)


def _ids(index: KnowledgeIndex, source: str) -> set[str]:
    return {c.id for c in index.snapshot().chunks if c.source == source}


def _sources_for(index: KnowledgeIndex, query: str, mode: SearchMode) -> set[str]:
    return {h.chunk.source for h in index.search(query, 10, mode)}


def test_first_run_adds_every_file(docs: Path, tmp_path: Path,
                                   make_factory: Callable[[], EmbedderFactory]) -> None:
    factory = make_factory()
    index, report = _run(docs, tmp_path / "index", factory)
    assert sorted(report.added) == sorted(FILES)
    assert not (report.updated or report.removed or report.unchanged or report.skipped)
    chunks = index.snapshot().chunks
    assert len(factory.passages) == len(chunks) >= len(FILES)
    assert _sources_for(index, "ромашка", "bm25") == {"deposits.md"}


def test_second_run_changes_nothing_and_does_not_load_the_model(
    docs: Path, tmp_path: Path, make_factory: Callable[[], EmbedderFactory]
) -> None:
    _run(docs, tmp_path / "index", make_factory())
    manifest = (tmp_path / "index" / "manifest.json").read_text(encoding="utf-8")
    factory = make_factory()
    _, report = _run(docs, tmp_path / "index", factory)
    assert (report.added, report.updated, report.removed, report.skipped) == ([], [], [], [])
    assert sorted(report.unchanged) == sorted(FILES)
    assert factory.calls == 0
    assert (tmp_path / "index" / "manifest.json").read_text(encoding="utf-8") == manifest


def test_changed_file_reembeds_only_its_changed_chunks(
    docs: Path, tmp_path: Path, make_factory: Callable[[], EmbedderFactory]
) -> None:
    first_factory = make_factory()
    first, _ = _run(docs, tmp_path / "index", first_factory)
    before = {name: _ids(first, name) for name in FILES}

    path = docs / "deposits.md"
    path.write_text(path.read_text(encoding="utf-8").replace("василек", "подорожник"), encoding="utf-8")
    factory = make_factory()
    index, report = _run(docs, tmp_path / "index", factory)

    assert report.updated == ["deposits.md"]
    assert not (report.added or report.removed)
    assert sorted(report.unchanged) == ["cards.md", "loans.md"]
    after = _ids(index, "deposits.md")
    changed = after - before["deposits.md"]
    assert 1 <= len(changed) < len(after)
    assert len(factory.passages) == len(changed)
    assert all("подорожник" in normal(p) for p in factory.passages)
    # Re-calibration asks the model only for questions the first run did not have.
    asked_before = set(first_factory.embedder.queries)
    assert asked_before and not asked_before & set(factory.embedder.queries)
    for name in ("loans.md", "cards.md"):
        assert _ids(index, name) == before[name]
    # The new wording is found; the old one is gone.
    assert _sources_for(index, "подорожник", "bm25") == {"deposits.md"}
    assert _sources_for(index, "василек", "bm25") == set()
    assert not any("василек" in normal(c.text) for c in index.snapshot().chunks)


def test_deleted_file_is_removed_from_search(
    docs: Path, tmp_path: Path, make_factory: Callable[[], EmbedderFactory]
) -> None:
    query = "колокольчик незабудка заявка погашение кредит"
    modes: list[SearchMode] = ["bm25", "dense", "hybrid"]
    first, _ = _run(docs, tmp_path / "index", make_factory())
    for mode in ("bm25", "hybrid"):
        assert "loans.md" in _sources_for(first, query, mode)

    (docs / "loans.md").unlink()
    index, report = _run(docs, tmp_path / "index", make_factory())
    assert report.removed == ["loans.md"]
    assert not (report.added or report.updated)
    assert "loans.md" not in {c.source for c in index.snapshot().chunks}
    for mode in modes:
        assert "loans.md" not in _sources_for(index, query, mode), mode
        # A process that had the index open before the run also stops returning it.
        assert "loans.md" not in _sources_for(first, query, mode), mode
    # And the next run has nothing more to remove.
    _, again = _run(docs, tmp_path / "index", make_factory())
    assert (again.removed, again.added, again.updated) == ([], [], [])


def test_index_option_never_touches_the_configured_index(docs: Path, tmp_path: Path, cli: Cli) -> None:
    config = write_config(tmp_path / "cfg")
    configured = tmp_path / "cfg" / "configured-index"
    other = tmp_path / "other-index"

    result = cli("--config", config, "kb", "ingest", docs, "--index", other)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "added: 3" in result.stdout
    assert json.loads((other / "manifest.json").read_text(encoding="utf-8"))["sources"]
    for args in (["kb", "search", "ромашка", "--json"], ["kb", "ingest", docs]):
        result = cli("--config", config, *args, "--index", other)
        assert result.exit_code == 0, (result.stdout, result.stderr)
    assert not configured.exists()

    # Without --index the configured one is used (and only then created).
    result = cli("--config", config, "kb", "ingest", docs)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert (configured / "manifest.json").exists()
