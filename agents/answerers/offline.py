"""The offline answerer: answers composed from the knowledge base, no LLM.

It is the default when no LLM is configured and the fallback when the LLM
fails. In order, for each question of a message:
- a calculation request runs the calculator, at the bank's own rate when
  the customer named none (`agents.answerers.rates`);
- an overview question («какие вклады у вас есть?») lists the products, or
  picks the one that meets a stated need (`agents.answerers.catalogue`);
- otherwise the best units of the top passages (`agents.answerers.compose`),
  if the evidence says the knowledge base answers the question at all.

Evidence is twofold: lexical coverage of the question by the best unit, and
the meaning-level similarity of question and passage, whose threshold is
calibrated per knowledge base on off-topic questions at ingest. Either one is
enough; neither means an honest «нет точного ответа». A named product the
knowledge base does not know, or a figure asked for and none found, is never
answered with a neighbouring passage.
"""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

from agents.answerers import catalogue, focus
from agents.answerers.base import Answer
from agents.answerers.compose import Composer, Piece, asks_figure, asks_figure_kind, has_figure, render
from agents.answerers.rates import find_rate
from agents.tools.requests import CalcResult, detect, wants_calculation
from agents.turn import HistoryItem, Source
from knowledge.index import KnowledgeIndex
from knowledge.rerank import Reranker
from knowledge.ru.numbers import number_phrases
from knowledge.ru.phones import phone_spans
from knowledge.ru.quantities import find_amounts
from knowledge.ru.tokens import normalize, tokenize
from knowledge.types import Hit, SearchFilter

NO_ANSWER = ("К сожалению, в моей базе знаний нет точного ответа на этот вопрос. "
             "Я могу передать ваш вопрос менеджеру — он ответит лично.")
PART_NO_ANSWER = "На вопрос «{q}» точного ответа в базе знаний нет — могу передать его менеджеру."
WHICH_CALCULATION = ("Могу посчитать ежемесячный платёж по кредиту или доход по вкладу. "
                     "Уточните, пожалуйста, что считаем: кредит или вклад?")
MIN_COVERAGE = 0.4  # lexical evidence alone: most of the question's rare words in one unit
MIN_SUPPORT = 0.1  # meaning alone still needs some word of the question in the unit
TOP_PASSAGES = 4
FIGURE_FALLBACK = 0.6
SECOND_PIECE = 0.9  # a second unit joins when it scores this close to the best


class OfflineAnswerer:
    """Answers from the index by composing its units, and by calculators."""

    def __init__(self, index: KnowledgeIndex) -> None:
        self.index = index

    async def answer(self, role: Any, text: str, history: tuple[HistoryItem, ...]) -> Answer:
        """Each question of the message answered; an honest «no exact answer» where none."""
        return await asyncio.to_thread(self.answer_sync, role, text, history)

    def answer_sync(self, role: Any, text: str, history: tuple[HistoryItem, ...] = ()) -> Answer:
        """The blocking part of `answer` (retrieval and composition)."""
        questions = split_questions(text)
        if len(questions) == 1:
            return self.one(role, text, history)
        answers = []
        for pos, question in enumerate(questions):
            # «…по накопительному счёту? и можно ли снимать?»: the second is about the first's topic.
            context = history + tuple(HistoryItem("customer", q) for q in questions[:pos])
            answers.append(self.one(role, question, context))
        return _merge(questions, answers)

    def one(self, role: Any, text: str, history: tuple[HistoryItem, ...] = ()) -> Answer:
        """The answer to a single question."""
        flt = _filter(role)
        calc = self._calculate(role, text, flt, history)
        if calc is not None:
            return calc
        category = catalogue.is_overview(text)
        if category is not None:
            listed = self._overview(role, text, category)
            if listed is not None:
                return listed
        return self.from_knowledge(role, text, history)

    def from_knowledge(self, role: Any, text: str, history: tuple[HistoryItem, ...] = ()) -> Answer:
        """Composed units of the passages the role may see, or «no exact answer»."""
        query = with_figures(with_topic(text, history))
        hits = self.index.search(query, k=TOP_PASSAGES, flt=_filter(role))
        if not hits:
            return Answer(NO_ANSWER, "offline", grounded=False, relevant=False)
        reranker = self.index.reranker()
        pieces = Composer(reranker).pieces(query, hits)
        if not pieces:
            return Answer(NO_ANSWER, "offline", grounded=False, relevant=False)
        similarity = hits_similarity(hits[:2])
        coverage = reranker.coverage(query, [f"{' '.join(pieces[0].unit.hit.chunk.headings)} "
                                             f"{pieces[0].text}"])
        notes: tuple[str, ...] = (f"coverage:{coverage:.2f}",
                                  f"similarity:{similarity:.3f}" if similarity else "similarity:-")
        unknown = reranker.unknown_terms(query)
        if unknown:
            notes = (*notes, "unknown:" + ",".join(unknown))
        lacking = self._lacks(text, reranker)
        if lacking:
            return Answer(NO_ANSWER, "offline", grounded=False, relevant=False, notes=(*notes, lacking))
        if not self._answerable(coverage, similarity):
            return Answer(NO_ANSWER, "offline", grounded=False, relevant=False, notes=notes)
        chosen = _choose(pieces, role.style.max_chars, query)
        body = render(chosen, reranker)
        missing = _unanswered(text, body, [h.chunk.indexed_text() for h in hits])
        if missing:
            return Answer(NO_ANSWER, "offline", grounded=False, relevant=False, notes=(*notes, missing))
        sources = tuple(dict.fromkeys(Source(p.unit.hit.chunk.source, p.unit.hit.chunk.heading,
                                             p.unit.hit.chunk.text) for p in chosen))
        return Answer(body, "offline", grounded=True, sources=sources, notes=notes)

    def _lacks(self, question: str, reranker: Reranker) -> str | None:
        """What the question asks for that the bank does not write about, or None.

        «какой кэшбэк по карте?» asks for a word the knowledge base never uses;
        «ставка по автокредиту?» names a product that no heading names.
        """
        lem = self.index.lemmatizer
        for word in focus.asked_for(question, lem):
            if not reranker.knows(word):
                return f"unknown_focus:{word}"
        headings = self.index.snapshot().heading_words
        for word in focus.product_compounds(question, lem):
            if word not in headings:
                return f"unknown_product:{word}"
        return None

    def _answerable(self, coverage: float, similarity: float | None) -> bool:
        """Lexical evidence, or meaning-level evidence with at least a word of support.

        Nouns the knowledge base never uses are noted, not refused on: customers
        name their situation («квартира», «муж») in words no bank document uses.
        """
        if coverage >= MIN_COVERAGE:
            return True
        threshold = self.index.manifest.min_similarity
        return (threshold is not None and similarity is not None and similarity >= threshold
                and coverage >= MIN_SUPPORT)

    # -- calculators --------------------------------------------------------

    def _calculate(self, role: Any, text: str, flt: SearchFilter,
                   history: tuple[HistoryItem, ...] = ()) -> Answer | None:
        tools = frozenset(role.tools)
        calc = detect(text, tools)
        if calc is None and wants_calculation(text) and not _KIND.search(text):
            # «посчитайте 500 тыс на 3 года под 19,9» right after talking about a loan.
            kind = _kind_from(history)
            calc = detect(f"{text} ({kind})", tools) if kind else None
            if calc is None:
                return Answer(WHICH_CALCULATION, "offline", grounded=True, notes=("calculator:which",))
            text = f"{text} ({kind})"
        if calc is None:
            return None
        if not calc.complete and calc.missing == ("ставку",) and calc.kind in ("loan", "deposit"):
            return self._at_bank_rate(text, tools, calc, flt)
        return Answer(calc.text, "offline", grounded=True, notes=(f"calculator:{calc.kind}",))

    def _at_bank_rate(self, text: str, tools: frozenset[str], calc: CalcResult,
                      flt: SearchFilter) -> Answer:
        known = find_rate(self.index, text, calc.kind, flt)
        if known is None:
            return Answer(calc.text, "offline", grounded=True, notes=(f"calculator:{calc.kind}",))
        done = detect(text, tools, rate=known.rate)
        if done is None or not done.complete:
            return Answer(calc.text, "offline", grounded=True, notes=(f"calculator:{calc.kind}",))
        return Answer(f"{done.text}\n{known.explain()}", "offline", grounded=True,
                      notes=(f"calculator:{calc.kind}", f"bank_rate:{known.rate}"))

    # -- overviews ----------------------------------------------------------

    def _overview(self, role: Any, text: str, category: str) -> Answer | None:
        flt = _filter(role)
        chunks = [c for c in self.index.snapshot().chunks if flt.allows(c.tags)]
        items = catalogue.products(chunks, category)
        if len(items) < 2:
            return None
        lem = self.index.lemmatizer
        need = catalogue.need_lemmas(text, lem)
        sources = tuple(Source(p.source, " › ".join(p.heading)) for p in items)
        if need:
            ranked = sorted(items, key=lambda p: -catalogue.fits(p, need, lem))
            if catalogue.fits(ranked[0], need, lem) > 0:
                return Answer(catalogue.advice_text(ranked[0], items), "offline", grounded=True,
                              sources=sources[:1], notes=("overview:advice",))
        return Answer(catalogue.overview_text(items, category), "offline", grounded=True,
                      sources=sources, notes=("overview",))


_KIND = re.compile(r"кредит|вклад|ипотек|депозит|платёж|платеж|заём|займ", re.IGNORECASE)


def _kind_from(history: tuple[HistoryItem, ...]) -> str | None:
    """«кредит» or «вклад», whichever the dialog talked about last."""
    for item in reversed(history[-4:]):
        lowered = item.text.lower()
        loan, deposit = lowered.rfind("кредит"), max(lowered.rfind("вклад"), lowered.rfind("депозит"))
        if loan >= 0 or deposit >= 0:
            return "кредит" if loan > deposit else "вклад"
    return None


def _filter(role: Any) -> SearchFilter:
    tags = role.knowledge.tags
    return SearchFilter(frozenset(tags)) if tags is not None else SearchFilter()


def _choose(pieces: list[Piece], max_chars: int, query: str) -> list[Piece]:
    """The best piece, and a second close one when it adds something and fits.

    A question that wants a figure is answered by the best piece that states
    one, unless it is far behind.
    """
    if asks_figure(query) and not has_figure(pieces[0].text, query):
        figured = [p for p in pieces if has_figure(p.text, query)
                   and p.score >= FIGURE_FALLBACK * pieces[0].score]
        if figured:
            pieces = [figured[0], *[p for p in pieces if p is not figured[0]]]
    chosen = [pieces[0]]
    budget = max_chars - len(pieces[0].text)
    for piece in pieces[1:3]:
        if piece.score < SECOND_PIECE * pieces[0].score or len(piece.text) > budget or piece.unit.intro:
            continue
        if any(_overlaps(piece.text, c.text) for c in chosen):
            continue
        chosen.append(piece)
        break
    if len(chosen[0].text) > max_chars:
        chosen[0] = Piece(chosen[0].unit, _shorten(chosen[0].text, max_chars), chosen[0].score)
    return chosen


def _overlaps(a: str, b: str) -> bool:
    lines_a = {" ".join(x.lower().split()) for x in a.split("\n")}
    lines_b = {" ".join(x.lower().split()) for x in b.split("\n")}
    return bool(lines_a & lines_b) or a in b or b in a


_QUESTION_END = re.compile(r"(?<=\?)\s+")
_TOPIC_NAME = re.compile(r"«([^»]{2,40})»")
_FOLLOW_UP = re.compile(r"^(?:а|и|ну|а\s+если|а\s+вот|а\s+там|а\s+у\s+него|а\s+по\s+нему)\b", re.IGNORECASE)


def split_questions(text: str) -> list[str]:
    """«Какая ставка? А можно пополнять?» → two questions; one question stays one."""
    parts = [p.strip() for p in _QUESTION_END.split(text.strip()) if p.strip()]
    parts = [p for p in parts if len(p.split()) >= 2]
    return parts if len(parts) >= 2 else [text]


def with_topic(text: str, history: tuple[HistoryItem, ...]) -> str:
    """A follow-up («а если закрою досрочно?») searched with the product talked about."""
    if _TOPIC_NAME.search(text) or not history:
        return text
    if not _FOLLOW_UP.match(text) and len(text.split()) > 8:
        return text
    for item in reversed(history[-6:]):
        # The latest product named in the dialog, not the bank's own name.
        names = [n for n in _TOPIC_NAME.findall(item.text) if not n.lower().startswith("банк")]
        if names:
            return f"{text} «{names[-1]}»"
    asked = [item.text for item in history[-4:] if item.author == "customer"]
    return f"{asked[-1]} {text}" if asked else text


def with_figures(text: str) -> str:
    """«до десяти лямов» also searched as «10 млн»: the knowledge base writes figures in digits."""
    if re.search(r"\d", text):
        return text
    written = [_short_amount(m.value) for m in find_amounts(text)]
    return f"{text} {' '.join(written)}" if written else text


def _short_amount(value: Decimal) -> str:
    for unit, size in (("млн", 1_000_000), ("тыс", 1_000)):
        if value >= size:
            n = value / size
            return f"{n.normalize():f}".replace(".", ",") + f" {unit}"
    return f"{value.normalize():f}"


def _merge(questions: list[str], answers: list[Answer]) -> Answer:
    """One reply for several questions: every answer, and which part is not known."""
    parts = [a.text if a.relevant else PART_NO_ANSWER.format(q=q.rstrip("?"))
             for q, a in zip(questions, answers, strict=True)]
    relevant = [a for a in answers if a.relevant]
    if not relevant:
        return answers[0]
    sources = tuple(dict.fromkeys(s for a in relevant for s in a.sources))
    notes = tuple(n for a in answers for n in a.notes)
    return Answer("\n\n".join(parts), "offline", grounded=all(a.grounded for a in relevant),
                  relevant=True, sources=sources, notes=("questions:" + str(len(questions)), *notes))


_FIGURE_QUESTION = re.compile(
    r"\b(?:сколько|скольки|какой\s+(?:процент|размер|срок|лимит|платёж|платеж|взнос)|"
    r"какая\s+(?:ставка|сумма|процентная|неустойка|комиссия)|под\s+какой\s+процент|"
    r"какие\s+(?:ставки|проценты|сроки|суммы)|"
    r"как\w+\s+(?:минимальн|максимальн|наименьш|наибольш|предельн)\w*)\b",
    re.IGNORECASE,
)
_PHONE_QUESTION = re.compile(
    r"\b(?:номер\w*\s+(?:телефона|горяч\w+)|телефон\w*\s+(?:горяч\w+|для\s+связи|поддержк\w+)|"
    r"по\s+какому\s+(?:номеру|телефону)|куда\s+(?:звонить|позвонить)|какой\s+(?:у\s+\w+\s+)?телефон)",
    re.IGNORECASE,
)
# «как банк посчитает, сколько я смогу платить» asks for the method, not for a figure.
_HOW_QUESTION = re.compile(r"\b(?:как|каким\s+образом|по\s+какому\s+принципу)\b[^.?!]*?\bскольк\w+",
                           re.IGNORECASE)
# «номер лицензии», «номер счёта» ask for an identifier, not for a phone.
_NUMBER_OF = re.compile(
    r"\b(?:какой|каков|скажите|подскажите|назовите|дайте|пришлите|скиньте|продиктуйте)\s+(?:\w+\s+){0,2}?"
    r"(?:номер|№)\s*(?!телефон|горяч|для\s+связи|поддержк|оператор|банк)[а-яё]{3,}", re.IGNORECASE)
_QUOTED = re.compile(r"[«\"]([^»\"]{2,60})[»\"]")


def _unanswered(question: str, answer: str, passages: list[str]) -> str | None:
    """Why the composed answer does not answer the question, or None when it may.

    A question about a named product («Накопительный плюс») needs that name in
    the passages; a question asking for a figure («сколько», «какая ставка»)
    needs a figure in the answer — otherwise the units only share words.
    """
    corpus = " ".join(passages).lower().replace("ё", "е")
    for name in _QUOTED.findall(question):
        if name.lower().replace("ё", "е") not in corpus:
            return f"unknown_name:{name}"
    if _FIGURE_QUESTION.search(question) and not _HOW_QUESTION.search(question) \
            and not _states_figure(answer, question):
        return "no_figure"
    if _PHONE_QUESTION.search(question):
        return None if phone_spans(answer) else "no_phone"  # «какой номер горячей линии?»
    if _NUMBER_OF.search(question) and not _number_besides_phones(answer):
        return "no_number"  # «номер лицензии» is not answered by the hotline's number
    return None


def _number_besides_phones(text: str) -> bool:
    rest = text
    for start, end in reversed(phone_spans(text)):
        rest = rest[:start] + rest[end:]
    return bool(re.search(r"\d", rest))


def _states_figure(answer: str, question: str) -> bool:
    """A figure of the kind asked; for a plain «сколько» a number in words counts too.

    «около пятнадцати наименований» answers «сколько документов», but «пятнадцать
    процентов» is not how a knowledge base states a rate, so a rate, price or time
    must be in digits.
    """
    if re.search(r"\d", answer) and has_figure(answer, question):
        return True
    if asks_figure_kind(question):
        return False
    return any(not p.digits_only and p.value >= 2 for p in number_phrases(tokenize(normalize(answer))))


def _shorten(text: str, limit: int) -> str:
    cut = text.rfind(" ", 0, limit - 1)
    return text[: cut if cut > 0 else limit - 1].rstrip(",;:— ") + "…"


def hits_similarity(hits: list[Hit]) -> float | None:
    """The best meaning-level similarity among the hits (None when dense search did not run)."""
    return max((h.similarity for h in hits if h.similarity is not None), default=None)

