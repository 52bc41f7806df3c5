"""Personal data and card numbers in free Russian text: found and masked.

One rule for every outlet that must not carry them — what is stored before
consent, what reaches the LLM before consent, the managers' forum posts (a
foreign messenger), and logs at every level:

- phone numbers (Russian ones in any notation, and any run of seven or more
  digits, which is how foreign and odd numbers look);
- payment card numbers: 13–19 digits, spaces or hyphens allowed, Luhn-valid
  (PCI DSS: never stored, whatever the consent);
- names a customer introduces themselves with («меня зовут …», «моё имя …»,
  «имя: …»), and any `known` values the caller already has (the lead's name).

Digits are replaced by `*` (the text stays readable: «+7 *** ***-**-**»);
names by «[имя]».
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.ru.phones import phone_spans

MASK = "*"
NAME_MASK = "[имя]"
_LONG_NUMBER = re.compile(r"\+?\d(?:[\s().-]{0,3}\d){6,}")
_INTERNATIONAL = re.compile(r"\+\d(?:[\s().-]{0,3}\d){6,}")
_CARD = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")
_NAME_WORD = r"[А-ЯЁA-Z][а-яёa-z]+(?:-[А-ЯЁA-Z][а-яёa-z]+)?"
# Triggers are matched in any case, the name itself must be capitalised.
_INTRODUCTION = re.compile(
    r"(?i:меня\s+зовут|зовут\s+меня|зовите\s+меня|мо[её]\s+имя|моя\s+фамилия|имя|фамилия|"
    r"ф\.?\s?и\.?\s?о\.?|с\s+вами\s+говорит|my\s+name\s+is)\s*[:—–-]?\s*"
    rf"(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})"
    rf"|(?i:\bэто|\bя)\s+[—–-]?\s*(?P<full>{_NAME_WORD}\s+{_NAME_WORD})"
    # After the strongest triggers a name written in lower case counts too.
    r"|(?i:меня\s+зовут|зовут\s+меня|мо[её]\s+имя)\s*[:—–-]?\s*(?P<lower>[а-яё]{2,}(?:\s+[а-яё]{2,})?)",
)


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn check card numbers carry."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the payment card numbers in `text`."""
    spans = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match[0])
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            spans.append(match.span())
    return spans


def number_spans(text: str, *, loose: bool = True) -> list[tuple[int, int]]:
    """Spans of phone numbers and card numbers; `loose` adds every run of seven or more digits.

    Without `loose` (logs, where ids are long numbers too) a number counts when it
    is a Russian phone, a card, or written with a leading «+».
    """
    if loose:
        return [*phone_spans(text), *(m.span() for m in _LONG_NUMBER.finditer(text))]
    return [*phone_spans(text), *card_spans(text), *(m.span() for m in _INTERNATIONAL.finditer(text))]


def name_spans(text: str) -> list[tuple[int, int]]:
    """Spans of names a customer introduces themselves with."""
    return [match.span(next(g for g in ("name", "full", "lower") if match[g]))
            for match in _INTRODUCTION.finditer(text)]


def mask_cards(text: str) -> str:
    """`text` with every card number's digits masked (done everywhere, consent or not)."""
    return _mask_digits(text, card_spans(text))


def mask_numbers(text: str, *, loose: bool = True) -> str:
    """`text` with the digits of every phone number, card number (and long digit run) masked."""
    return _mask_digits(text, number_spans(text, loose=loose))


def mask_names(text: str, known: Iterable[str] = ()) -> str:
    """`text` with introduced names and the `known` names replaced by «[имя]»."""
    for span_start, span_end in sorted(name_spans(text), reverse=True):
        text = text[:span_start] + NAME_MASK + text[span_end:]
    for name in sorted({k.strip() for k in known if k and len(k.strip()) > 1}, key=len, reverse=True):
        text = re.sub(_known_pattern(name), NAME_MASK, text)
    return text


def redact(text: str, known: Iterable[str] = (), *, loose: bool = True) -> str:
    """`text` without phones, cards, (with `loose`) long numbers, introduced names and `known` names."""
    names = [k for k in known if not any(ch.isdigit() for ch in k)]
    return mask_names(mask_numbers(text, loose=loose), names)


def _known_pattern(name: str) -> re.Pattern[str]:
    # Each word of the name, in any case ending: «Анастасия» matches «Анастасии», «Анастасию».
    words = [re.escape(w[:-1] if len(w) > 4 else w) + r"[а-яё]{0,3}" for w in name.split()]
    return re.compile(r"(?<![\w])" + r"\s+".join(words) + r"(?![\w])", re.IGNORECASE)


def _mask_digits(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        for index in range(start, end):
            if chars[index].isdigit():
                chars[index] = MASK
    return "".join(chars)
