"""Chunks stay readable (≤ 1000 characters), carry their heading path and keep stable ids."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import docx
import pytest

from pipelines.ingest.chunker import ChunkDraft
from tests.kb.conftest import BuiltIndex, EmbedderFactory, build_index, normal

MAX_CHARS = 1000
WORDS = ["кредит", "вклад", "ставка", "банк", "заемщик", "процент", "срок", "договор", "платеж", "счет"]


@pytest.mark.parametrize("kb_name", ["demo_kb", "seeds_kb"])
def test_indexed_chunks_are_at_most_1000_characters(kb_name: str, request: pytest.FixtureRequest) -> None:
    kb: BuiltIndex = request.getfixturevalue(kb_name)
    chunks = kb.index.snapshot().chunks
    assert len(chunks) >= 20
    too_long = [(c.source, len(c.text)) for c in chunks if len(c.text) > MAX_CHARS]
    assert not too_long


def _numbered_words(count: int) -> list[str]:
    """Distinct tokens («кредит 17»), so each one can be found again in the chunks."""
    return [f"{WORDS[i % len(WORDS)]} {i}" for i in range(count)]


def _covers_all(chunks: list[ChunkDraft], tokens: list[str]) -> bool:
    text = " " + normal(" ".join(c.text for c in chunks)) + " "
    return all(f" {t} " in text or f" {t}." in text for t in tokens)


def test_line_of_20000_characters_without_punctuation(
    tmp_path: Path, chunks_of: Callable[[Path], list[ChunkDraft]]
) -> None:
    tokens = _numbered_words(2400)
    line = " ".join(tokens)
    assert len(line) >= 20_000 and not re.search(r"[.,;:!?]", line)
    path = tmp_path / "long.txt"
    path.write_text(f"1. Условия кредитования\n{line}\n", encoding="utf-8")
    chunks = chunks_of(path)
    assert len(chunks) >= 20
    assert max(len(c.text) for c in chunks) <= MAX_CHARS
    assert _covers_all(chunks, tokens)
    assert all(c.headings == ("1. Условия кредитования",) for c in chunks)


def test_line_of_20000_characters_without_spaces(
    tmp_path: Path, chunks_of: Callable[[Path], list[ChunkDraft]]
) -> None:
    path = tmp_path / "blob.txt"
    path.write_text("Вступление к тексту.\n" + "кредит" * 3400 + "\n", encoding="utf-8")
    chunks = chunks_of(path)
    assert chunks
    assert max(len(c.text) for c in chunks) <= MAX_CHARS


def test_paragraph_with_one_3000_character_sentence(
    tmp_path: Path, chunks_of: Callable[[Path], list[ChunkDraft]]
) -> None:
    tokens = _numbered_words(330)
    sentence = "Заемщик обязан учитывать " + " ".join(tokens) + "."
    assert len(sentence) >= 3000
    path = tmp_path / "sentence.md"
    path.write_text(
        "# Обязанности заемщика\n\n"
        "Договор заключается в отделении банка. " + sentence + " Банк проверяет исполнение договора.\n",
        encoding="utf-8",
    )
    chunks = chunks_of(path)
    assert len(chunks) >= 3
    assert max(len(c.text) for c in chunks) <= MAX_CHARS
    assert _covers_all(chunks, tokens)
    joined = normal(" ".join(c.text for c in chunks))
    assert "договор заключается в отделении банка." in joined
    assert "банк проверяет исполнение договора." in joined


def _paths(chunks: list[ChunkDraft]) -> dict[str, tuple[str, ...]]:
    """The heading path of the chunk holding each marker word («маркерN»)."""
    found: dict[str, tuple[str, ...]] = {}
    for c in chunks:
        for marker in re.findall(r"маркер\d+", c.text):
            found[marker] = c.headings
    return found


def test_markdown_heading_path(tmp_path: Path, chunks_of: Callable[[Path], list[ChunkDraft]]) -> None:
    path = tmp_path / "deposits.md"
    path.write_text(
        "# Вклады\n\nБанк открывает вклады онлайн, маркер1 относится к разделу.\n\n"
        "## Пополнение\n\nВклад можно пополнять в любой день, маркер2 стоит здесь.\n\n"
        "### Лимиты пополнения\n\nЛимит пополнения составляет миллион рублей, маркер3 отмечает его.\n\n"
        "## Снятие\n\nЧастичное снятие доступно раз в месяц, маркер4 завершает раздел.\n",
        encoding="utf-8",
    )
    assert _paths(chunks_of(path)) == {
        "маркер1": ("Вклады",),
        "маркер2": ("Вклады", "Пополнение"),
        "маркер3": ("Вклады", "Пополнение", "Лимиты пополнения"),
        "маркер4": ("Вклады", "Снятие"),
    }


def test_numbered_heading_path_in_plain_text(
    tmp_path: Path, chunks_of: Callable[[Path], list[ChunkDraft]]
) -> None:
    path = tmp_path / "insurance.txt"
    path.write_text(
        "1. Основы системы\n"
        "1.1. Цель системы\n"
        "Система защищает вкладчиков банков, маркер1 стоит здесь.\n"
        "2. Объект страхования\n"
        "2.3. Валюта вкладов\n"
        "Валютные вклады тоже застрахованы, маркер2 стоит здесь.\n"
        "3. Размер возмещения\n"
        "Возмещение выплачивается в рублях, маркер3 стоит здесь.\n",
        encoding="utf-8",
    )
    assert _paths(chunks_of(path)) == {
        "маркер1": ("1. Основы системы", "1.1. Цель системы"),
        "маркер2": ("2. Объект страхования", "2.3. Валюта вкладов"),
        "маркер3": ("3. Размер возмещения",),
    }


def test_docx_heading_styles_become_the_heading_path(
    tmp_path: Path, chunks_of: Callable[[Path], list[ChunkDraft]]
) -> None:
    document = docx.Document()
    document.add_heading("Кредитные карты", level=1)
    document.add_paragraph("Банк выпускает кредитные карты, маркер1 стоит здесь.")
    document.add_heading("Льготный период", level=2)
    document.add_paragraph("Льготный период длится сто дней, маркер2 стоит здесь.")
    document.add_heading("Условия льготного периода", level=3)
    document.add_paragraph("Нужно вносить минимальный платеж вовремя, маркер3 стоит здесь.")
    document.add_heading("Кэшбэк", level=2)
    document.add_paragraph("Кэшбэк начисляется баллами, маркер4 стоит здесь.")
    buffer = io.BytesIO()
    document.save(buffer)
    path = tmp_path / "cards.docx"
    path.write_bytes(buffer.getvalue())
    assert _paths(chunks_of(path)) == {
        "маркер1": ("Кредитные карты",),
        "маркер2": ("Кредитные карты", "Льготный период"),
        "маркер3": ("Кредитные карты", "Льготный период", "Условия льготного периода"),
        "маркер4": ("Кредитные карты", "Кэшбэк"),
    }


def test_html_headings_become_the_heading_path(
    tmp_path: Path, chunks_of: Callable[[Path], list[ChunkDraft]]
) -> None:
    path = tmp_path / "mortgage.html"
    path.write_text(
        "<html><body><h1>Ипотека</h1><p>Банк выдает ипотеку на жилье, маркер1 стоит здесь.</p>"
        "<h2>Ставки</h2><p>Ставка зависит от взноса, маркер2 стоит здесь.</p>"
        "<h3>Семейная ипотека</h3><p>Семьи с детьми получают льготу, маркер3 стоит здесь.</p>"
        "<h2>Документы</h2><p>Нужен паспорт гражданина, маркер4 стоит здесь.</p></body></html>",
        encoding="utf-8",
    )
    assert _paths(chunks_of(path)) == {
        "маркер1": ("Ипотека",),
        "маркер2": ("Ипотека", "Ставки"),
        "маркер3": ("Ипотека", "Ставки", "Семейная ипотека"),
        "маркер4": ("Ипотека", "Документы"),
    }


def _long_markdown(title: str, sections: int) -> str:
    parts = [f"# {title}\n"]
    for s in range(sections):
        parts.append(f"## Раздел {s}\n")
        parts.append(" ".join(f"Условие {s}.{i}: банк рассматривает заявку по правилу {i}."
                              for i in range(8)))
        parts.append("")
    return "\n".join(parts)


def test_chunk_ids_are_stable_across_runs_and_independent_of_other_files(
    tmp_path: Path, make_factory: Callable[[], EmbedderFactory]
) -> None:
    alone, together = tmp_path / "alone", tmp_path / "together"
    for folder in (alone, together):
        folder.mkdir()
        (folder / "a.md").write_text(_long_markdown("Кредиты", 3), encoding="utf-8")
    (together / "b.md").write_text(_long_markdown("Вклады", 2), encoding="utf-8")
    (together / "0.md").write_text("# Сначала\n\nФайл, который идет по алфавиту первым.\n", encoding="utf-8")

    first = build_index(tmp_path / "index-1", [alone], make_factory())
    again = build_index(tmp_path / "index-2", [alone], make_factory())
    beside = build_index(tmp_path / "index-3", [together], make_factory())

    def ids(kb: BuiltIndex) -> list[str]:
        chunks = sorted((c for c in kb.index.snapshot().chunks if c.source == "a.md"),
                        key=lambda c: c.position)
        return [c.id for c in chunks]

    a_ids = ids(first)
    assert len(a_ids) >= 3 and len(set(a_ids)) == len(a_ids)
    assert ids(again) == a_ids
    assert ids(beside) == a_ids
    # The stored chunks carry those ids, and searching finds them.
    hits = beside.index.search("банк рассматривает заявку по правилу", 10, "bm25")
    assert {h.chunk.id for h in hits if h.chunk.source == "a.md"} <= set(a_ids)
