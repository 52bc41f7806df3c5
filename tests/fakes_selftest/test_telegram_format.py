"""The fake's parse_mode checks accept valid Telegram markup and reject what Telegram rejects."""

from __future__ import annotations

import pytest

from tests.fakes._telegram_format import FormattingError, render

VALID_HTML = [
    ("<b>Жирный</b> и <i>курсив</i>", "Жирный и курсив"),
    ('<a href="https://bank.example/?a=1&amp;b=2">ссылка</a>', "ссылка"),
    ('<pre><code class="language-python">x = 1 &lt; 2</code></pre>', "x = 1 < 2"),
    ("<blockquote expandable>цитата</blockquote>", "цитата"),
    ('<span class="tg-spoiler">секрет</span> <tg-spoiler>ещё</tg-spoiler>', "секрет ещё"),
    ("цена < 5 и > 3", "цена < 5 и > 3"),
]
INVALID_HTML = [
    ("строка<br>строка", 'Unsupported start tag "br" at byte offset 12'),
    ("<b>жирный", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
    ("x</b>", "Unexpected end tag"),
    ('<span class="red">x</span>', 'must have class "tg-spoiler"'),
]
VALID_MARKDOWN_V2 = [
    "*Жирный* _курсив_ __подчёркнутый__ ~зачёркнутый~ ||спойлер||",
    "Сумма: 1 000\\.00 ₽ \\(с комиссией\\)",
    "[сайт банка](https://bank.example/path_(1\\).html?a=b)",  # only ) escaped in URLs
    "`x = 1.5` и ```\nprint(2 + 2)\n```",
    "> цитата\n**>раскрывающаяся\n>цитата||",
    "![👍](tg://emoji?id=5368324170671202286)",
]
INVALID_MARKDOWN_V2 = [
    ("Итого: 5.0", "Character '.' is reserved"),
    ("Звоните: +7 800", "Character '+' is reserved"),
    ("(скобки)", "Character '(' is reserved"),
    ("*жирный", "Can't find end of Bold entity at byte offset 0"),
    ("`код", "Can't find end of Code entity"),
]


@pytest.mark.parametrize(("markup", "plain"), VALID_HTML)
def test_valid_html_renders_to_plain_text(markup: str, plain: str) -> None:
    assert render(markup, "HTML") == plain


@pytest.mark.parametrize(("markup", "message"), INVALID_HTML)
def test_invalid_html_is_rejected(markup: str, message: str) -> None:
    with pytest.raises(FormattingError) as caught:
        render(markup, "HTML")
    assert message in str(caught.value)


@pytest.mark.parametrize("markup", VALID_MARKDOWN_V2)
def test_valid_markdown_v2_passes(markup: str) -> None:
    assert render(markup, "MarkdownV2") == markup


@pytest.mark.parametrize(("markup", "message"), INVALID_MARKDOWN_V2)
def test_invalid_markdown_v2_is_rejected(markup: str, message: str) -> None:
    with pytest.raises(FormattingError) as caught:
        render(markup, "MarkdownV2")
    assert message in str(caught.value)


def test_plain_and_legacy_markdown_are_not_checked() -> None:
    assert render("5.0 <br>", None) == "5.0 <br>"
    assert render("5.0 *x", "Markdown") == "5.0 *x"
