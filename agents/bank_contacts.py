"""The bank's hotline and complaints address, read from the knowledge base (never hard-coded).

An admin who edits the contacts file changes what the warnings and complaint
replies say on the next message: the lookup searches the live index each time
(it runs only on the rare turns that need it).
"""

from __future__ import annotations

import re
from typing import Protocol

from knowledge.types import Hit

_PHONE = re.compile(r"(?<!\d)(?:8|\+7)[\s-]?\(?\d{3}\)?[\s-]?\d{3}[\s-]?\d{2}[\s-]?\d{2}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HOTLINE_LINE = re.compile(r"горяч\w+\s+лини", re.IGNORECASE)
_COMPLAINT_LINE = re.compile(r"жалоб|претензи", re.IGNORECASE)


class Searchable(Protocol):
    """What the lookup needs of a knowledge index."""

    def search(self, query: str, k: int = 5) -> list[Hit]: ...


class BankContacts:
    """Looks contacts up in the knowledge index; None when the base has none."""

    def __init__(self, index: Searchable | None) -> None:
        self._index = index

    def hotline(self) -> str | None:
        """The hotline phone as the knowledge base writes it («8 800 000-00-00»)."""
        return self._find("телефон горячей линии банка", _HOTLINE_LINE, _PHONE)

    def complaints(self) -> str | None:
        """Where written complaints go (an e-mail address in the demo base)."""
        return self._find("письменные жалобы и претензии", _COMPLAINT_LINE, _EMAIL)

    def _find(self, query: str, line_cue: re.Pattern[str], value: re.Pattern[str]) -> str | None:
        if self._index is None:
            return None
        for hit in self._index.search(query, k=4):
            for line in hit.chunk.text.splitlines():
                found = value.search(line)
                if found and line_cue.search(line):
                    return found[0].rstrip(".")
        return None
