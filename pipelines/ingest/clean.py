"""Removal of web junk from loaded documents.

Scraped pages carry page chrome («Skip to content», «Войти»), cookie banners,
navigation word lists («Астрономия Биология География …»), unrelated spam
lines («Чистая карта гта сан андреас») and passages repeated by the page
template. None of it may reach an answer, so it is removed before chunking,
for every source format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from razdel import sentenize

from knowledge.ru.lemmatizer import Lemmatizer
from pipelines.ingest.document import Block, Document

_CHROME = re.compile(
    r"""^(?:skip\ to\ content|sign\ (?:in|up)\b|log\ ?in\b|show\ gist|instantly\ share
    |.*\bto\ your\ computer\b|.*already\ have\ an\ account|.*\bcookies?\b|.*\bкуки\b
    |.*\bcookie-файл|войти$|регистрация$|зарегистрироваться$|поделиться\b|подписаться\b
    |наверх$|читать\ (?:далее|ещё|еще)|все\ права\ защищены|©|\(c\)\ \d{4}|реклама$
    |меню$|главная$|поиск$|комментари(?:и|ев)\b.*$|оставить\ комментарий
    |перейти\ к\ |скачать\b|загрузить\ файл)""",
    re.IGNORECASE | re.VERBOSE,
)
_WORD = re.compile(r"^[A-ZА-ЯЁ][a-zа-яё]+$|^[a-zа-яё]+$")
# Split points inside a sentence: before «II. Title» items and after «;».
_ROMAN_ITEM = re.compile(r"\s+(?=[IVX]{1,4}\.(?:\s|$))|(?<=;)\s+")
_TERMINAL = re.compile(r"[.!?…:;]\)?$")
_CONTENT_LINE = re.compile(r"^\s*(?:[-•*–]|\d{1,2}[.)])\s|\w:\s+\S")
_COPULA = re.compile(r"\s[—–-]\s")
_NAV_RUN = 6  # this many title-case words in a row, with no punctuation, is a menu
_TITLE_MAX = 120
_SHINGLE = 5
_NEAR_DUP = 0.7


@dataclass(frozen=True)
class CleanReport:
    """What cleaning removed, for the ingest report and for tests."""

    chrome: int = 0
    nav_runs: int = 0
    off_topic: int = 0
    repeated: int = 0


@dataclass
class _State:
    lemmatizer: Lemmatizer
    vocabulary: dict[str, int]
    # Off for authored documents: a list item or a repeated line («Часы работы: …»
    # under each branch) is content there, not page junk.
    judge_topic: bool = True
    shingles: set[tuple[str, ...]] = field(default_factory=set)
    counts: dict[str, int] = field(
        default_factory=lambda: {"chrome": 0, "nav_runs": 0, "off_topic": 0, "repeated": 0}
    )


def clean(doc: Document, lemmatizer: Lemmatizer) -> tuple[Document, CleanReport]:
    """Return `doc` without junk, and counts of what was removed."""
    state = _State(lemmatizer, _document_vocabulary(doc, lemmatizer), judge_topic=not doc.authored)
    blocks: list[Block] = []
    for block in doc.blocks:
        paragraphs = _clean_block(block.paragraphs, state)
        if paragraphs:
            blocks.append(Block(block.headings, paragraphs))
    return Document(doc.title, blocks, doc.tags, doc.authored), CleanReport(**state.counts)


@dataclass
class _Piece:
    paragraph: int
    text: str
    title_like: bool = False
    verdict: str | None = None


def _clean_block(paragraphs: list[str], state: _State) -> list[str]:
    pieces = _split_block(paragraphs, state)
    for piece in pieces:
        if _CHROME.match(piece.text) or re.fullmatch(r"[IVX]{1,4}\.?", piece.text):
            piece.verdict = "chrome"
        elif piece.title_like and state.judge_topic and _is_off_topic(piece.text, state):
            piece.verdict = "off_topic"
    _judge_title_runs(pieces)
    for piece in pieces:
        if piece.verdict is None and state.judge_topic and _is_repeat(piece.text, state):
            piece.verdict = "repeated"
        if piece.verdict:
            state.counts[piece.verdict] += 1
    out: dict[int, list[str]] = {}
    for piece in pieces:
        if piece.verdict is None:
            out.setdefault(piece.paragraph, []).append(piece.text)
    return [" ".join(out[i]) for i in sorted(out)]


def _split_block(paragraphs: list[str], state: _State) -> list[_Piece]:
    pieces: list[_Piece] = []
    for index, para in enumerate(paragraphs):
        text, runs = _strip_nav_runs(" ".join(para.split()))
        state.counts["nav_runs"] += runs
        for sentence in _pieces(text):
            pieces.append(_Piece(index, sentence, _is_title_like(sentence, state.lemmatizer)))
    return pieces


def _judge_title_runs(pieces: list[_Piece]) -> None:
    """A run of title-like lines that is mostly off-topic is a link list: drop it whole.

    «I. Методика диагностики … I. Общие критерии оценки рефератов …» under an
    article is a block of links to other pages even where one item happens to
    share the article's words.
    """
    run: list[_Piece] = []
    for piece in [*pieces, _Piece(-1, "")]:
        if piece.title_like and piece.verdict != "chrome":
            run.append(piece)
            continue
        if len(run) >= 2 and sum(p.verdict == "off_topic" for p in run) * 2 >= len(run):
            for p in run:
                p.verdict = p.verdict or "off_topic"
        run = []


def _pieces(text: str) -> list[str]:
    """Sentences, with glued «I. Title II. Title» link lists split into items."""
    out: list[str] = []
    for sentence in sentenize(text):
        out.extend(p.strip() for p in _ROMAN_ITEM.split(sentence.text) if p.strip())
    return out


def _strip_nav_runs(text: str) -> tuple[str, int]:
    """Cut runs of ≥6 bare title-case words (a menu or a category list)."""
    tokens = text.split(" ")
    keep = [True] * len(tokens)
    runs, start = 0, 0
    for i in range(len(tokens) + 1):
        bare = i < len(tokens) and _WORD.match(tokens[i].rstrip(".")) is not None
        if bare and (i == len(tokens) - 1 or not tokens[i].endswith(".")):
            continue
        end = i + 1 if i < len(tokens) and bare else i
        run = tokens[start:end]
        capitals = sum(1 for t in run if t[:1].isupper())
        if len(run) >= _NAV_RUN and capitals >= 0.75 * len(run):
            keep[start:end] = [False] * (end - start)
            runs += 1
        start = i + 1
    cleaned = " ".join(t for t, k in zip(tokens, keep, strict=True) if k).strip()
    return cleaned, runs


def _is_title_like(sentence: str, lemmatizer: Lemmatizer) -> bool:
    """Short text that reads as a title or a link, not as a sentence.

    List items and «ключ: значение» lines are content, never titles.
    """
    if len(sentence) > _TITLE_MAX or _COPULA.search(sentence) or _CONTENT_LINE.search(sentence):
        return False
    return not _TERMINAL.search(sentence) or not lemmatizer.has_predicate(sentence)


def _is_off_topic(sentence: str, state: _State) -> bool:
    """A title-like line whose words the rest of the document rarely uses is spam.

    Real headings share the document's vocabulary; «Чистая карта гта сан
    андреас» in an article about lending shares none of it.
    """
    words = _topic_words(sentence, state.lemmatizer)
    if not words:
        return False
    # Each word's own occurrence is in the count: ≥3 means used twice elsewhere.
    shared = sum(1 for w in words if state.vocabulary.get(w, 0) >= 3)
    return shared / len(words) < 0.6


def _topic_words(text: str, lemmatizer: Lemmatizer) -> set[str]:
    return {lem for lem in lemmatizer.lemmas(text) if len(lem) > 2 or lem.isdigit()}


def _is_repeat(sentence: str, state: _State) -> bool:
    """Whether most of the sentence's word 5-grams already appeared (a repeated passage)."""
    words = _normal(sentence).split()
    grams = {tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}
    if not grams:
        grams = {tuple(words)}
    seen = sum(1 for g in grams if g in state.shingles)
    state.shingles.update(grams)
    return seen / len(grams) >= _NEAR_DUP


def _document_vocabulary(doc: Document, lemmatizer: Lemmatizer) -> dict[str, int]:
    counts: dict[str, int] = {}
    for block in doc.blocks:
        for text in (*block.headings, *block.paragraphs):
            for lem in _topic_words(text, lemmatizer):
                counts[lem] = counts.get(lem, 0) + 1
    return counts


def _normal(text: str) -> str:
    return " ".join(text.lower().replace("ё", "е").split())
