"""The bank's own words, taken from its knowledge files, to bias speech recognition.

Whisper hears «Вершина Доходный» as «вершина дохода» and «АСВ» as «а эс вэ»
unless it is told those words exist. faster-whisper takes such a hint two
ways: `initial_prompt` (text the decoder reads as if it came before the note)
and `hotwords` (the same, placed as a prefix of every window). Both come from
the same list built here:

- product names: quoted names that start with a capital letter, quoted in
  a heading or at least twice («Вершина Доходный», «Вершина Дом»), most
  frequent first; a button label quoted once («Контакты») is left out;
- abbreviations written in capitals at least twice (ПСК, ПДН, АСВ);
- the nouns of the files' headings that occur most often (вклад, ипотека,
  кредит, страхование...), in their normal form.

The hint is kept short (`MAX_CHARS`): Whisper reads at most 223 prompt tokens
and a long prompt costs decoding time on every note.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from knowledge.ru.morph import analyzer

MAX_CHARS = 400
MAX_NOUNS = 16
TEXT_SUFFIXES = (".md", ".txt")
_QUOTED = re.compile(r"«([А-ЯЁA-Z][^«»\n]{1,40})»")
_ACRONYM = re.compile(r"(?<![\w-])[А-ЯЁ]{2,5}(?![\w-])")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.MULTILINE)
_WORD = re.compile(r"[а-яё]{4,}", re.IGNORECASE)
# Nouns of headings that are not the bank's words («Пример расчёта», «Часы работы»).
_NOT_TERMS = frozenset({"пример", "шаг", "условие", "банк", "деньга", "часы", "работа"})


def knowledge_texts(folder: Path) -> list[str]:
    """The text of every knowledge file under `folder` (none when it is missing)."""
    if not folder.is_dir():
        return []
    return [path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(folder.rglob("*")) if path.suffix in TEXT_SUFFIXES and path.is_file()]


def bank_terms(texts: Iterable[str], max_chars: int = MAX_CHARS) -> tuple[str, ...]:
    """Product names, abbreviations and heading words of `texts`, within `max_chars` in all."""
    texts = list(texts)
    corpus = "\n".join(texts)
    names = Counter(m.group(1).strip() for m in _QUOTED.finditer(corpus) if len(m.group(1).split()) <= 3)
    headed = {m.group(1).strip() for h in _HEADING.findall(corpus) for m in _QUOTED.finditer(h)}
    acronyms = Counter(m.group(0) for m in _ACRONYM.finditer(corpus))
    nouns = Counter(n for heading in _HEADING.findall(corpus) for n in _nouns(heading))
    ranked = ([f"«{n}»" for n, c in names.most_common() if c >= 2 or n in headed]
              + [a for a, c in acronyms.most_common() if c >= 2]
              + [n for n, c in nouns.most_common(MAX_NOUNS) if c >= 2 and n not in _NOT_TERMS])
    return _within(_unique(ranked), max_chars)


def as_prompt(terms: Iterable[str]) -> str:
    """The terms as one line of text, the way a transcript would write them.

    Without guillemets, and without a name that is only a part of a longer one
    («Вершина» beside «Вершина Доходный»): a list of quoted names made the
    decoder loop on them («Вершина» — «Вершина» — …, docs/benchmarks.md).
    """
    plain = [term.strip("«»") for term in terms]
    kept = [t for t in plain if not any(t != other and other.startswith(t + " ") for other in plain)]
    return ", ".join(kept) + "." if kept else ""


def _nouns(text: str) -> list[str]:
    """The normal forms of the nouns in `text`."""
    found = []
    for word in _WORD.findall(text):
        parses = analyzer().parse(word.lower())
        if parses and parses[0].tag.POS == "NOUN":
            found.append(parses[0].normal_form)
    return found


def _unique(terms: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for term in terms:
        key = term.strip("«»").lower()
        if key not in seen:
            seen.add(key)
            kept.append(term)
    return kept


def _within(terms: list[str], max_chars: int) -> tuple[str, ...]:
    kept: list[str] = []
    length = 0
    for term in terms:
        if length + len(term) + 2 > max_chars:
            break
        kept.append(term)
        length += len(term) + 2
    return tuple(kept)
