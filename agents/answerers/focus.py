"""What a question asks about, to tell «the bank does not have it» from a paraphrase.

A customer's own situation may be worded in words no bank document uses
(«квартира», «муж»), so an unknown word alone is no reason to refuse. The word
a question asks *for* is different: in «какой кэшбэк по карте?» or «скиньте
БИК» it is the thing wanted, and if the knowledge base never names it, any
passage about cards or accounts answers a question nobody asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.ru.lemmatizer import Lemmatizer
from knowledge.ru.morph import analyzer

# The word right after these, past prepositions and adjectives, is what is asked for.
_ASKS_FOR = re.compile(
    r"\b(?:как(?:ой|ая|ое|ие|ую|им|ого|ова|ов)|каков\w*|скиньте|скинь|пришлите|пришли|дайте|"
    r"назовите|продиктуйте|есть\s+ли\s+у\s+вас|у\s+вас\s+есть|есть\s+ли)\s+([^?.!,;]+)",
    re.IGNORECASE,
)
_SKIP = {"у", "вас", "вы", "по", "в", "на", "для", "за", "мне", "нам", "пожалуйста", "ваш", "ваша",
         "ваше", "ваши", "вашей", "вашему", "вашего", "вашу", "банка", "банк", "банке", "же", "там"}
# A compound of a product word («автокредит», «автоипотека») is a product of its own.
_PRODUCT_ROOT = re.compile(r"^(?:\w{3,})(?:кредит|ипотек[аи]|вклад|депозит|карт[аы])$", re.IGNORECASE)


def asked_for(question: str, lemmatizer: Lemmatizer) -> list[str]:
    """Lemmas of the nouns a question asks for: «какой кэшбэк по карте» → [«кэшбэк»]."""
    out = []
    for match in _ASKS_FOR.finditer(question):
        noun = _first_noun(match.group(1).split())
        if noun:
            out.append(lemmatizer.lemma(noun))
    return out


def _first_noun(words: Iterable[str]) -> str | None:
    for raw in list(words)[:4]:
        word = raw.strip("«»\"'()").lower()
        if not word or word in _SKIP:
            continue
        parses = analyzer().parse(word)
        tag = parses[0].tag if parses else None
        if tag is None or "LATN" in tag or "UNKN" in tag:
            return word  # «какой SWIFT»: a word the dictionary does not know is a name
        if tag.POS in ("ADJF", "ADJS", "PRTF", "NUMR"):
            continue  # «какая процентная ставка», «какой минимальный балл»
        return word if tag.POS == "NOUN" else None
    return None


def product_compounds(question: str, lemmatizer: Lemmatizer) -> list[str]:
    """Lemmas like «автокредит»: a product named by a compound of a product word."""
    return [lem for lem in lemmatizer.lemmas(question) if _PRODUCT_ROOT.match(lem)]
