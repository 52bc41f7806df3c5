"""Markup a model may write (HTML, Markdown), turned into the plain text customers get.

Channels send plain text: a tag or an entity from the model would either show
up raw or, in a web page, run. Scripts and styles are dropped with their
content, other tags keep only their text; Markdown emphasis, headings, code
fences and links lose their marks (a link keeps its words).
"""

from __future__ import annotations

import re
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>|&[#\w]+;")
_BLOCK_TAGS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table")
_MD_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"```[\w-]*\n?(.*?)```", re.DOTALL), r"\1"),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"(\*\*|__)(.+?)\1", re.DOTALL), r"\2"),
    (re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?!\w)"), r"\1"),
    (re.compile(r"`([^`\n]+)`"), r"\1"),
    (re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE), ""),
    (re.compile(r"^\s{0,3}>\s?", re.MULTILINE), ""),
    (re.compile(r"^\s*[-*_]{3,}\s*$", re.MULTILINE), ""),
)


def plain_text(text: str) -> str:
    """`text` without HTML tags, entities and Markdown marks."""
    if _TAG.search(text):
        text = _html_text(text)
    for pattern, repl in _MD_RULES:
        text = pattern.sub(repl, text)
    text = re.sub(r"[<>]", "", text) if _TAG.search(text) else text
    return re.sub(r"[ \t]+\n", "\n", re.sub(r"\n{3,}", "\n\n", text)).strip()


def _html_text(text: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(text, "html.parser")
    for node in soup(["script", "style", "iframe", "object", "embed", "template", "noscript"]):
        node.decompose()
    for node in soup.find_all(_BLOCK_TAGS):
        node.insert_before("\n")
    return soup.get_text()
