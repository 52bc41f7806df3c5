"""Payment card data and one-time codes in a customer's message: found and masked.

PCI DSS forbids keeping a card number in the clear, and a CVV/CVC or an SMS or
push code must never be kept at all. The engine masks an inbound message with
`mask_card_data` before it is written anywhere (inbox, messages, outbox,
logs); the agent sees only the placeholders and warns the customer.

What counts:
- a card number: 13–19 digits (spaces or hyphens between groups) that pass
  the Luhn check, or 16–19 digits in a message that speaks of a card;
- CVV/CVC: three or four digits after «cvv», «cvc», «код на обороте»;
- an expiry date («12/27», «12.2027») in a message with a card number or
  after «срок», «действует до»;
- SMS/push/confirmation codes and PINs: 4–8 digits after «код», «смс», «пароль», «пин».
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.ru.sensitive import luhn_valid  # one Luhn check for every mask

CARD_MASK = "[номер карты скрыт]"
CVV_MASK = "[CVV скрыт]"
EXPIRY_MASK = "[срок карты скрыт]"
CODE_MASK = "[код скрыт]"
MASKS = {CARD_MASK: "card", CVV_MASK: "cvv", EXPIRY_MASK: "expiry", CODE_MASK: "code"}

_DIGIT_RUN = re.compile(r"(?<![\d+])\d(?:[ \-]?\d){12,18}(?!\d)")
_CARD_CUE = re.compile(r"карт|card|visa|виза|мастеркард|mastercard|мир\b|maestro|номер\s+карт",
                       re.IGNORECASE)
_CVV = re.compile(r"(?P<cue>\b(?:cvv2?|cvc2?|свв|свс|цвв|код\s+(?:на\s+)?(?:оборот\w*|обратной\s+"
                  r"сторон\w*|сзади)|три\s+цифры(?:\s+сзади)?)\b\W{0,3}(?:[а-яё]+\s+){0,2}?)"
                  r"(?P<value>\d{3,4})\b", re.IGNORECASE)
_EXPIRY = re.compile(r"(?<![\d/.])(?P<value>(?:0[1-9]|1[0-2])\s?[/.\\-]\s?(?:20)?\d{2})(?![\d/.])")
_EXPIRY_CUE = re.compile(r"срок|действ\w*\s+до|до\s+(?=\d)|exp|годн\w*", re.IGNORECASE)
_CODE = re.compile(r"(?P<cue>\b(?:код\w*|смс|sms|пуш|push|пароль|пин(?:-?код)?|pin|одноразов\w+)"
                   r"\b[^\d\n]{0,30}?)(?P<value>\d{4,8})\b(?!\s*(?:₽|руб|тыс|млн|%))", re.IGNORECASE)


@dataclass(frozen=True)
class Masked:
    """A text with card data replaced, and what kinds were found (card, cvv, expiry, code)."""

    text: str
    kinds: frozenset[str]


def mask_card_data(text: str) -> Masked:
    """Replace card numbers, CVV/CVC, expiry dates and one-time codes in `text`."""
    if not text:
        return Masked(text, frozenset())
    kinds: set[str] = set()
    cue = bool(_CARD_CUE.search(text))

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match[0])
        if luhn_valid(digits) or (cue and len(digits) >= 16):
            kinds.add("card")
            return CARD_MASK
        return match[0]

    text = _DIGIT_RUN.sub(card, text)
    text = _sub(_CVV, text, CVV_MASK, "cvv", kinds)
    if "card" in kinds or (_EXPIRY_CUE.search(text) and cue):
        text = _sub(_EXPIRY, text, EXPIRY_MASK, "expiry", kinds, keep_cue=False)
    text = _sub(_CODE, text, CODE_MASK, "code", kinds)
    return Masked(text, frozenset(kinds))


def masked_kinds(text: str) -> frozenset[str]:
    """The kinds of card data a (masked) text carries: raw values or the placeholders."""
    found = {kind for mask, kind in MASKS.items() if mask in (text or "")}
    return frozenset(found) | mask_card_data(text or "").kinds


def _sub(pattern: re.Pattern[str], text: str, mask: str, kind: str, kinds: set[str],
         keep_cue: bool = True) -> str:
    def replace(match: re.Match[str]) -> str:
        kinds.add(kind)
        return (match["cue"] if keep_cue else "") + mask

    return pattern.sub(replace, text)
