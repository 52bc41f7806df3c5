"""The offline answerer: extractive answers from the knowledge base, no LLM.

It is the default when no LLM is configured and the fallback when the LLM
fails. It answers with the most relevant sentences of the top passages, runs
the calculators on recognisable requests, and says honestly when the
knowledge base has nothing on the question.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from agents.answerers.base import Answer
from agents.tools.requests import detect
from agents.turn import HistoryItem, Source
from knowledge.index import KnowledgeIndex
from knowledge.rerank import split_sentences
from knowledge.types import Hit, SearchFilter

NO_ANSWER = ("К сожалению, в моей базе знаний нет точного ответа на этот вопрос. "
             "Я могу передать ваш вопрос менеджеру — он ответит лично.")
MIN_COVERAGE = 0.4
TOP_PASSAGES = 3
MAX_SENTENCES = 3


class OfflineAnswerer:
    """Answers from the index by sentence extraction and calculators."""

    def __init__(self, index: KnowledgeIndex) -> None:
        self.index = index

    async def answer(self, role: Any, text: str, history: tuple[HistoryItem, ...]) -> Answer:
        """Calculator result, extracted sentences, or an honest «no exact answer»."""
        calc = detect(text, frozenset(role.tools))
        if calc is not None:
            return Answer(calc.text, "offline", grounded=True, notes=(f"calculator:{calc.kind}",))
        return await asyncio.to_thread(self.from_knowledge, role, text)

    def from_knowledge(self, role: Any, text: str) -> Answer:
        """Extractive answer from the passages the role may see."""
        tags = role.knowledge.tags
        flt = SearchFilter(frozenset(tags)) if tags is not None else SearchFilter()
        hits = self.index.search(text, k=TOP_PASSAGES, flt=flt)
        reranker = self.index.reranker()
        if not hits:
            return Answer(NO_ANSWER, "offline", grounded=False, relevant=False)
        top = hits[0].chunk
        covered = reranker.coverage(text, [f"{top.heading} {top.text}"])
        if covered < MIN_COVERAGE:
            return Answer(NO_ANSWER, "offline", grounded=False, relevant=False,
                          notes=(f"coverage:{covered:.2f}",))
        windows = self._windows(text, hits, role.style.max_chars)
        answer_text = " ".join(s for _, run in windows for s in run)
        missing = _unanswered(text, answer_text, [h.chunk.indexed_text() for h in hits])
        if missing:
            return Answer(NO_ANSWER, "offline", grounded=False, relevant=False,
                          notes=(f"coverage:{covered:.2f}", missing))
        sources = tuple(dict.fromkeys(Source(h.chunk.source, h.chunk.heading, h.chunk.text)
                                      for h, _ in windows))
        body = "\n\n".join(self._with_heading(hit, _join(hit.chunk.text, sentences))
                             for hit, sentences in windows)
        return Answer(body, "offline", grounded=True, sources=sources,
                      notes=(f"coverage:{covered:.2f}",))

    def _windows(self, query: str, hits: list[Hit], max_chars: int) -> list[tuple[Hit, list[str]]]:
        """Up to two runs of consecutive sentences around the best-matching ones.

        A run reads as the knowledge base wrote it (a definition followed by its
        explanation), unlike sentences plucked from different places.
        """
        reranker = self.index.reranker()
        scored = []
        for rank, hit in enumerate(hits):
            sentences = split_sentences(hit.chunk.text)
            path = " ".join(hit.chunk.headings)
            leaf = hit.chunk.headings[-1] if hit.chunk.headings else ""
            for pos, sentence in enumerate(sentences):
                # A list item reads under its headings: «Часы работы: …» under «Отделение «Речное»».
                score = reranker.coverage(query, [f"{path} {sentence}"]) + 0.25 / (rank + 1)
                # A section titled «Показатель долговой нагрузки (ПДН)» defines ПДН in its opening.
                defines = reranker.defines(query, [sentence]) or (
                    pos == 0 and reranker.title_defines(query, leaf))
                score += 0.5 if defines else 0.0
                scored.append((score, rank, pos, hit, sentences))
        scored.sort(key=lambda x: (-x[0], x[1], x[2]))
        out: list[tuple[Hit, list[str]]] = []
        seen: set[str] = set()
        budget = max_chars
        for score, _, pos, hit, sentences in scored:
            if len(out) == 2 or budget < 120 or (out and score < 0.8 * scored[0][0]):
                break
            run = self._run(sentences, pos, budget, seen)
            if run:
                out.append((hit, run))
                budget -= sum(len(s) + 1 for s in run)
        return out

    def _with_heading(self, hit: Hit, text: str) -> str:
        """Prefix the section's heading when the sentences do not say what they are about."""
        leaf = hit.chunk.headings[-1] if hit.chunk.headings else ""
        if not leaf or self.index.reranker().coverage(leaf, [text[:200]]) >= 0.5:
            return text
        return f"{leaf}:\n{text}"

    @staticmethod
    def _run(sentences: list[str], start: int, budget: int, seen: set[str]) -> list[str]:
        run: list[str] = []
        for sentence in sentences[start : start + MAX_SENTENCES]:
            key = " ".join(sentence.lower().split())
            room = budget - sum(len(s) + 1 for s in run)
            if key in seen:
                break
            if run and len(sentence) > room:
                # «…несколькими способами:» is useless without what follows: keep its start.
                if run[-1].endswith(":") and room > 80:
                    run.append(_shorten(sentence, room))
                break
            seen.add(key)
            run.append(sentence)
        return run


_FIGURE_QUESTION = re.compile(
    r"\b(?:сколько|скольки|какой\s+(?:процент|размер|срок|лимит|платёж|платеж|взнос)|"
    r"какая\s+(?:ставка|сумма|процентная|неустойка|комиссия)|под\s+какой\s+процент|"
    r"какие\s+(?:ставки|проценты|сроки|суммы))\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"[«\"]([^»\"]{2,60})[»\"]")


def _unanswered(question: str, answer: str, passages: list[str]) -> str | None:
    """Why extracted sentences do not answer the question, or None when they may.

    A question about a named product («Накопительный плюс») needs that name in
    the passages; a question asking for a figure («сколько», «какая ставка»)
    needs a figure in the answer — otherwise the sentences only share words.
    """
    corpus = " ".join(passages).lower().replace("ё", "е")
    for name in _QUOTED.findall(question):
        if name.lower().replace("ё", "е") not in corpus:
            return f"unknown_name:{name}"
    if _FIGURE_QUESTION.search(question) and not re.search(r"\d", answer):
        return "no_figure"
    return None


def _join(text: str, sentences: list[str]) -> str:
    """Sentences joined as the passage had them: list items and rows stay on their own lines."""
    out = sentences[0]
    for sentence in sentences[1:]:
        out += ("\n" if f"\n{sentence}" in text else " ") + sentence
    return out


def _shorten(sentence: str, limit: int) -> str:
    cut = sentence.rfind(" ", 0, limit - 1)
    return sentence[: cut if cut > 0 else limit - 1].rstrip(",;:— ") + "…"
