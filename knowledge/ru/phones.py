"""Russian phone numbers: finding them in text and writing them as E.164 «+7XXXXXXXXXX»."""

from __future__ import annotations

import re

# A national number starts with 3, 4, 8 or 9 (geographic, toll-free and mobile codes);
# it may follow «+7», «7» or «8» and be split by spaces, hyphens and brackets.
_PHONE = re.compile(
    r"(?<![0-9+])(?<![0-9+][\s-])"
    r"(?P<prefix>\+\s*7|7|8)?[\s-]*"
    r"(?P<code>\(\s*[3489][0-9]{2}\s*\)|[3489][0-9]{2})[\s-]*"
    r"[0-9]{3}[\s-]*[0-9]{2}[\s-]*[0-9]{2}"
    r"(?![0-9-])"
)
_LABEL = re.compile(
    r"^\s*(?:(?:тел(?:ефон)?|т|моб(?:ильный)?|номер|tel|phone)\.?\s*:?\s*)?", re.IGNORECASE
)


def _e164(match: re.Match[str]) -> str:
    """Write a matched phone as «+7» and its ten national digits."""
    digits = re.sub(r"[^0-9]", "", match[0])
    return "+7" + digits[-10:]


def normalize_phone(text: str) -> str | None:
    """Return the Russian phone written in ``text`` as «+7XXXXXXXXXX», or None.

    ``text`` must hold just the phone, optionally after a label such as «т.» or «тел:»:
    «+7 (912) 345-67-89», «8 912 345 67 89», «(912) 345-67-89», «9123456789».
    Too short or too long numbers and foreign prefixes («+1…», «+8…») give None.
    """
    if not isinstance(text, str):
        return None
    body = _LABEL.sub("", text, count=1).strip().rstrip(".,;")
    match = _PHONE.fullmatch(body)
    return _e164(match) if match else None


def find_phone(text: str) -> str | None:
    """Return the first Russian phone found inside ``text`` as «+7XXXXXXXXXX», or None."""
    if not isinstance(text, str):
        return None
    match = _PHONE.search(text)
    return _e164(match) if match else None


def phone_spans(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) character spans of all phones in ``text``."""
    return [match.span() for match in _PHONE.finditer(text)]
