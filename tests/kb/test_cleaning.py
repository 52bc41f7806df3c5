"""Web junk never reaches a chunk; real content does.

The dirty seed 002 (a scraped page about lending) is checked in the index
built from it; small synthetic pages check each kind of junk on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from razdel import sentenize

from knowledge.types import Chunk
from pipelines.ingest.chunker import ChunkDraft
from pipelines.ingest.loaders import load
from tests.kb.conftest import BuiltIndex, normal, seed_path

# Junk of seed 002, as a reader would spot it in an answer.
NAVIGATION_WORDS = ["Астрономия", "Биология География", "Религия Риторика Социология"]
SPAM_LINES = [
    "Чистая карта гта сан андреас",
    "Тест драйв спортейдж 2016",
    "Можно ли написать диплом",
    "I5 2520m характеристики",
    "Любовные романы по темам",
]
LINK_LIST = [
    "Методика диагностики объема восприятия",
    "Общие критерии оценки рефератов",
    "метрологии и измерении физических величин",
    "порядок составления родословной",
    "Методология и методика криминологии",
    "оценки воздействия на окружающую среду",
]
PAGE_CHROME = ["Skip to content", "Sign up", "Sign in", "Gist", "GitHub", "to your computer"]
DEFINITION = "Методы кредитования - это способы выдачи и погашения кредита"


def _chunks_from(kb: BuiltIndex, prefix: str) -> list[Chunk]:
    chunks = [c for c in kb.index.snapshot().chunks if c.source.startswith(prefix)]
    assert chunks, f"no chunks of {prefix}_* in the index"
    return chunks


def _seen_text(chunks: list[Chunk]) -> str:
    """Everything a customer could be shown: headings and passages."""
    return normal("\n".join(f"{c.heading}\n{c.text}" for c in chunks))


@pytest.mark.parametrize("junk", NAVIGATION_WORDS + SPAM_LINES + LINK_LIST + PAGE_CHROME)
def test_scraped_page_junk_reaches_no_chunk(seeds_kb: BuiltIndex, junk: str) -> None:
    text = seed_path("002").read_text(encoding="utf-8")
    assert normal(junk) in normal(text), "the seed no longer holds this junk: update the test"
    assert normal(junk) not in _seen_text(_chunks_from(seeds_kb, "002"))


def test_scraped_page_repeated_passage_is_kept_once(seeds_kb: BuiltIndex) -> None:
    raw = normal(seed_path("002").read_text(encoding="utf-8"))
    chunks = _chunks_from(seeds_kb, "002")
    title = "Методы кредитования сбербанка"
    for passage in (DEFINITION, title):
        assert raw.count(normal(passage)) >= 2, "the seed no longer repeats it: update the test"

    def count(passage: str) -> int:
        return sum(normal(passage) in normal(c.text) for c in chunks)

    assert count(DEFINITION) == 1
    assert count(title) <= 1  # the page title repeated by the template: once, or dropped as chrome


def test_scraped_page_genuine_content_survives(seeds_kb: BuiltIndex) -> None:
    seen = _seen_text(_chunks_from(seeds_kb, "002"))
    for fact in (
        DEFINITION,
        "Кредитоспособность заемщика представляет собой способность к совершению сделки",
        "Скоринг представляет собой математическую статистическую модель",
        "Различают возобновляемую и невозобновляемую кредитную линию",
    ):
        assert normal(fact) in seen, fact


def test_clean_document_keeps_its_headings_and_text(seeds_kb: BuiltIndex) -> None:
    path = seed_path("001")
    chunks = _chunks_from(seeds_kb, "001")
    doc = load(path)
    headings = {h for block in doc.blocks for h in block.headings}
    assert len(headings) >= 20
    # Every numbered heading is the innermost heading of some chunk, with its parent before it.
    paths = {c.headings for c in chunks}
    for block in doc.blocks:
        if block.paragraphs:
            assert block.headings in paths, block.headings
    assert ("3. Размер страхового возмещения", "3.1. Максимальная сумма страхового возмещения") in paths

    # Nothing meaningful is lost: a sentence is either kept verbatim, or most of
    # its wording is kept elsewhere (the document repeats itself in places).
    kept = _seen_text(chunks)
    kept_words = kept.split()
    kept_grams = {tuple(kept_words[i : i + 5]) for i in range(len(kept_words) - 4)}
    sentences = [normal(s.text) for b in doc.blocks for p in b.paragraphs for s in sentenize(p)]
    lost = [s for s in sentences if s not in kept]
    assert len(lost) <= 0.02 * len(sentences), lost
    for sentence in lost:
        words = sentence.split()
        grams = [tuple(words[i : i + 5]) for i in range(len(words) - 4)]
        assert sum(g in kept_grams for g in grams) >= 0.7 * len(grams), sentence
    for fact in ("1,4 млн рублей", "агентство по страхованию вкладов", "177-фз"):
        assert fact in kept


def _all_text(chunks: list[ChunkDraft]) -> str:
    return normal("\n".join(" ".join(c.headings) + "\n" + c.text for c in chunks))


@pytest.mark.parametrize("banner", [
    "Мы используем файлы cookie, чтобы сайт работал удобнее. Продолжая, вы соглашаетесь.",
    "This website uses cookies to improve your experience.",
    "Сайт использует куки. Подробнее в политике конфиденциальности.",
])
@pytest.mark.parametrize("suffix", [".txt", ".md"])
def test_cookie_banner_line_is_dropped(tmp_path: Path, chunks_of: Callable[[Path], list[ChunkDraft]],
                                       banner: str, suffix: str) -> None:
    path = tmp_path / f"page{suffix}"
    path.write_text(
        f"{banner}\n"
        "Банк принимает вклады от физических лиц на срок от трех месяцев.\n"
        "Проценты по вкладу начисляются ежемесячно и выплачиваются в конце срока.\n",
        encoding="utf-8",
    )
    text = _all_text(chunks_of(path))
    assert "банк принимает вклады от физических лиц" in text
    assert "cookie" not in text and "куки" not in text


def test_html_page_chrome_is_dropped(tmp_path: Path, chunks_of: Callable[[Path], list[ChunkDraft]]) -> None:
    path = tmp_path / "mortgage.html"
    path.write_text(
        """<!doctype html>
<html><head><title>Ипотека</title>
<script>window.trackerId = "трекер посещений"; console.log("аналитика");</script>
<style>.x { color: red }</style></head>
<body>
<nav><ul><li><a href="/">Главная страница банка</a></li>
<li><a href="/cards">Карты и платежи</a></li></ul></nav>
<div class="cookie-banner"><p>Мы сохраняем сведения о вашем визите для улучшения сервиса.</p>
<button>Принять</button></div>
<main>
<h1>Ипотека</h1>
<p>Банк выдает ипотеку на покупку квартиры в новостройке и на вторичном рынке.</p>
<h2>Первоначальный взнос</h2>
<p>Первоначальный взнос составляет не менее двадцати процентов стоимости жилья.</p>
</main>
<footer><p>Лицензия Банка России и телефон горячей линии для всех регионов.</p></footer>
</body></html>""",
        encoding="utf-8",
    )
    chunks = chunks_of(path)
    text = _all_text(chunks)
    assert "банк выдает ипотеку на покупку квартиры" in text
    assert "первоначальный взнос составляет не менее двадцати процентов" in text
    for junk in ("трекер", "аналитика", "color", "главная страница", "карты и платежи",
                 "сведения о вашем визите", "принять", "лицензия банка россии"):
        assert junk not in text, junk
