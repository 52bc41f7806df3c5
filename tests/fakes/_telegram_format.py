"""Formatting checks the Bot API applies to ``parse_mode`` text.

Telegram rejects a whole message when its markup does not parse, which is a
classic failure for model-generated answers (``<br>``, an unescaped ``.`` in
MarkdownV2). The fake reproduces the common cases so tests catch them; it is
not a complete parser and only reports errors Telegram would report too.
"""

from __future__ import annotations

from html.parser import HTMLParser

__all__ = ["FormattingError", "render"]

# https://core.telegram.org/bots/api#html-style
_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "code",
        "del",
        "em",
        "i",
        "ins",
        "pre",
        "s",
        "span",
        "strike",
        "strong",
        "tg-emoji",
        "tg-spoiler",
        "tg-time",
        "u",
    }
)

# Outside code and link URLs these characters must always be escaped in MarkdownV2.
_MDV2_RESERVED = frozenset(".#+-={}!>()|")
_MDV2_PAIRED = {"*": "Bold", "_": "Italic", "~": "Strikethrough", "||": "Spoiler"}


class FormattingError(ValueError):
    """The text does not parse in the requested ``parse_mode``; message as Telegram's."""


def render(text: str, parse_mode: str | None) -> str:
    """Return the plain text Telegram would show, or raise :class:`FormattingError`."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        _check_markdown_v2(text)
    return text


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _TelegramHTML(HTMLParser):
    """Collects the visible text and the first markup error."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._line_starts = [0]
        for index, char in enumerate(source):
            if char == "\n":
                self._line_starts.append(index + 1)
        self.stack: list[str] = []
        self.parts: list[str] = []
        self.error: str | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return _byte_offset(self._source, self._line_starts[line - 1] + column)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.error:
            return
        if tag not in _HTML_TAGS:
            self.error = f'Unsupported start tag "{tag}" at byte offset {self._offset()}'
        elif tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            self.error = f'Tag "span" must have class "tg-spoiler" at byte offset {self._offset()}'
        else:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.error:
            return
        if not self.stack:
            self.error = f"Unexpected end tag at byte offset {self._offset()}"
        elif self.stack[-1] != tag:
            self.error = (
                f"Unmatched end tag at byte offset {self._offset()}, "
                f'expected "</{self.stack[-1]}>", found "</{tag}>"'
            )
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _parse_html(text: str) -> str:
    parser = _TelegramHTML(text)
    parser.feed(text)
    parser.close()
    if parser.error is None and parser.stack:
        parser.error = f'Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
    if parser.error is not None:
        raise FormattingError(parser.error)
    return "".join(parser.parts)


def _skip_code(text: str, start: int) -> int:
    """Index after the code span or pre block opening at ``start``."""
    fence = "```" if text.startswith("```", start) else "`"
    index = start + len(fence)
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text.startswith(fence, index):
            return index + len(fence)
        index += 1
    entity = "Pre" if fence == "```" else "Code"
    raise FormattingError(f"Can't find end of {entity} entity at byte offset {_byte_offset(text, start)}")


def _skip_url(text: str, start: int) -> int:
    """Index after the ``(url)`` that follows a link text's ``]`` at ``start - 1``."""
    index = start + 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == ")":
            return index + 1
        index += 1
    raise FormattingError(f"Can't find end of a url at byte offset {_byte_offset(text, start)}")


def _at_line_end(text: str, index: int) -> bool:
    return index == len(text) or text[index] == "\n"


def _check_markdown_v2(text: str) -> None:
    open_at: dict[str, int] = {}
    expandable_quote = False
    index = 0
    while index < len(text):
        char = text[index]
        line_start = index == 0 or text[index - 1] == "\n"
        if char == "\\":
            index += 2
        elif line_start and text.startswith("**>", index):
            expandable_quote = True
            index += 3
        elif expandable_quote and text.startswith("||", index) and _at_line_end(text, index + 2):
            expandable_quote = False  # "||" at a line end closes an expandable block quote
            index += 2
        elif char == "`":
            index = _skip_code(text, index)
        elif char == "]" and text.startswith("(", index + 1):
            index = _skip_url(text, index + 1)
        elif text.startswith("||", index) or char in "*_~":
            mark = "||" if text.startswith("||", index) else char
            if mark in open_at:
                del open_at[mark]
            else:
                open_at[mark] = index
            index += len(mark)
        elif (char == ">" and line_start) or (char == "!" and text.startswith("[", index + 1)):
            index += 1  # a block quote, or a custom emoji ![..](tg://emoji?id=..)
        elif char in _MDV2_RESERVED:
            raise FormattingError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            index += 1
    if open_at:
        mark, start = min(open_at.items(), key=lambda item: item[1])
        raise FormattingError(
            f"Can't find end of {_MDV2_PAIRED[mark]} entity at byte offset {_byte_offset(text, start)}"
        )
