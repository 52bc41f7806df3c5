"""The LLM output guard: the role's instructions never reach a customer.

Every turn plants a fresh random canary in the system prompt. An answer is
rejected when it carries the canary, or repeats a long run of words of the
instructions that the knowledge passages do not also contain (a verbatim or
near-verbatim leak of the system prompt, or a passage's planted instruction
obeyed word for word), or is not written in Russian (a "translated"
prompt). Requests to repeat, translate or reveal the instructions are
refused politely before any model is asked.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

#: Words in a row shared with the instructions that make an answer a leak.
LEAK_NGRAM = 8
#: Share of Latin letters above which an answer is not Russian.
MAX_LATIN_SHARE = 0.5
#: The same for a sentence planted in a passage (they are short).
PLANTED_NGRAM = 4

REFUSAL = ("Я не могу показать или пересказать свои служебные инструкции. "
           "Но с радостью отвечу на ваш вопрос о продуктах и услугах банка.")

_REVEAL_VERBS = (r"(повтор|перевед|перевод|покаж|выведи|выпиши|напиши|напечатай|раскрой|процитир|"
                 r"перечисл|расскаж|скопируй|озвуч|дай|пришли|отправь|какие у тебя|какие у вас)")
_REVEAL_OBJECTS = (r"(инструкц|промпт|промт|prompt|систем\w* (сообщени|подсказ|настро)|"
                   r"правил\w* (работ|поведени|, которые тебе)|указани\w* (разработ|для бота)|"
                   r"канар|служебн\w* (метк|текст|инструкц)|всё,? что (выше|было выше|тебе сказали)|"
                   r"текст выше)")
_EN_VERBS = r"(repeat|translate|print|show|reveal|output|display|list|tell me|write out|dump|what are)"
_EN_OBJECTS = (r"(instruction|system prompt|prompt|system message|your rules|initial rules|"
               r"the text above|everything above|canary|developer message|hidden rules)")
_ASKS = [
    re.compile(rf"{_REVEAL_VERBS}.{{0,60}}{_REVEAL_OBJECTS}", re.IGNORECASE | re.DOTALL),
    re.compile(rf"{_EN_VERBS}.{{0,60}}{_EN_OBJECTS}", re.IGNORECASE | re.DOTALL),
    re.compile(r"(ignore|disregard|forget)\s+(all\s+|your\s+|the\s+)*(previous|prior|above)",
               re.IGNORECASE),
    re.compile(r"(игнорируй|забудь|не обращай внимания на)\s.{0,30}(инструкц|правил|указани)",
               re.IGNORECASE),
]
_QUOTED = re.compile(r"«[^»]{0,60}»")
_WORD = re.compile(r"[a-zа-яё0-9]+", re.IGNORECASE)


def new_canary() -> str:
    """A fresh random token to plant in one turn's system prompt."""
    return f"CNRY-{secrets.token_hex(8)}"


def asks_for_instructions(text: str) -> bool:
    """True when a customer asks to see, repeat or translate the agent's instructions."""
    return any(p.search(text) for p in _ASKS)


@dataclass(frozen=True)
class InstructionGuard:
    """Checks answers of one turn against its instructions and canary."""

    instructions: str
    canary: str
    ngram: int = LEAK_NGRAM

    def has_canary(self, text: str) -> bool:
        """True when `text` carries the canary, whole or its random part."""
        return self.canary.lower() in text.lower() or self.canary.split("-")[-1] in text.lower()

    def leak(self, answer: str, evidence: Iterable[str] = ()) -> str | None:
        """Why `answer` leaks the instructions (`canary`, `instructions`, `not_russian`), or None."""
        if self.has_canary(answer):
            return "canary"
        n = self.ngram
        allowed = _ngrams(" ".join(evidence), n)
        shared = (_ngrams(answer, n) & _ngrams(self.instructions, n)) - allowed
        if shared:
            return "instructions"
        if _latin_share(answer) > MAX_LATIN_SHARE:
            return "not_russian"
        return None


def _ngrams(text: str, n: int = LEAK_NGRAM) -> set[tuple[str, ...]]:
    # Product names are public: a list of them is no leak, so each counts as one word.
    text = _QUOTED.sub(" qname ", text)
    words = [w.lower().replace("ё", "е") for w in _WORD.findall(text)]
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 20:
        return 0.0
    return sum("a" <= c.lower() <= "z" for c in letters) / len(letters)


_PLANTED = [
    re.compile(r"\b(ассистент\w*|нейросет\w*|языков\w* модел\w*|чат-?бот\w*|бот[уае]?|ии|"
               r"искусственн\w* интеллект\w*|assistant|chatbot|language model|llm|ai)\b"
               r".{0,80}\b(долж\w*|обязан\w*|скаж\w*|сообщ\w*|напиш\w*|назов\w*|выполн\w*|"
               r"игнор\w*|must|should|tell|say|ignore|always|never)", re.IGNORECASE | re.DOTALL),
    re.compile(r"\b(игнорир\w*|проигнорир\w*|забудь\w*|не соблюдай\w*|ignore|disregard|"
               r"new instructions?|новые инструкци\w*|"
               r"инструкци\w* для (ии|ассистент\w*|бот[уае]?|модел\w*))\b",
               re.IGNORECASE),
    re.compile(r"\b(скажи|сообщи|ответь|передай|напиши|скажите|сообщите|ответьте|напишите)\s+"
               r"(клиент\w*|пользовател\w*|всем)\b", re.IGNORECASE),
    re.compile(r"\b(попроси|попросите|потребуй|потребуйте)\s+(у\s+)?(клиент\w*|пользовател\w*)\b",
               re.IGNORECASE),
]
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")


def split_planted(text: str) -> tuple[str, list[str]]:
    """A passage without sentences that address the model, and those sentences.

    Knowledge files are data; a sentence telling "the assistant" what to say
    is an injection. It is kept out of the evidence (so an answer that obeys
    it is ungrounded) and added to what an answer must not repeat.
    """
    kept, planted = [], []
    for line in text.splitlines(keepends=True):
        sentences = _SENTENCE.findall(line) or [line]
        first = next((i for i, s in enumerate(sentences) if any(p.search(s) for p in _PLANTED)), None)
        if first is None:
            kept.append(line)
            continue
        # A planted instruction may quote several sentences: the rest of its line goes with it.
        kept.append("".join(sentences[:first]) + "\n")
        planted.append("".join(sentences[first:]).strip())
    return "".join(kept), planted
