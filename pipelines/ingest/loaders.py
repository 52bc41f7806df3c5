"""Readers for the file types an admin can put into the knowledge base.

Each reader turns bytes into a `Document` of headed blocks; junk removal and
chunking happen later, the same way for every format.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import yaml
from bs4 import BeautifulSoup

from pipelines.ingest.bounds import check_docx, check_html
from pipelines.ingest.document import Block, Document
from pipelines.ingest.errors import UnreadableFile
from pipelines.ingest.worker import parse_isolated

MAX_FILE_BYTES = 20 * 1024 * 1024

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# «1. Основы», «2.3. Валюта вкладов» — numbered headings of plain-text documents.
_NUMBERED_HEADING = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+\S.{0,120}$")
_SENTENCE_END = re.compile(r"[.!?…:;]$")


def load(path: Path) -> Document:
    """Read one file by its extension; raise `UnreadableFile` with a reason otherwise."""
    try:
        with path.open("rb") as file:  # never more than the limit is read
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UnreadableFile(path, f"не удалось прочитать: {exc.strerror}") from None
    return parse(path, data)


def parse(path: Path, data: bytes) -> Document:
    """The Document in `data`, read by the reader of `path`'s extension.

    Binary and markup formats are parsed in a bounded child process
    (`pipelines.ingest.worker`); plain text is read here.
    """
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFile(path, f"формат {path.suffix or '(без расширения)'} не поддерживается")
    if not data.strip():
        raise UnreadableFile(path, "файл пуст")
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFile(path, f"файл больше {MAX_FILE_BYTES // (1024 * 1024)} МБ")
    try:
        doc = parse_isolated(reader, data) if path.suffix.lower() in ISOLATED else reader(data)
    except UnreadableFile as exc:
        raise UnreadableFile(path, exc.reason) from None
    except Exception as exc:  # a broken PDF or DOCX raises anything; report, never stop the run
        raise UnreadableFile(path, f"не удалось прочитать файл: {exc.__class__.__name__}") from exc
    if not any(b.paragraphs for b in doc.blocks):
        raise UnreadableFile(path, "в файле нет текста")
    return doc


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise UnreadableFile(None, "двоичный файл, а не текст")
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(None, "неизвестная кодировка текста")


def read_markdown(data: bytes) -> Document:
    """Markdown with optional YAML front matter (`tags: [...]`, `title: ...`)."""
    text, meta = _split_front_matter(_decode(data))
    doc = _from_lines(_flatten_tables(text.splitlines()), _markdown_heading)
    doc.tags = tuple(str(t) for t in meta.get("tags", ()) or ())
    doc.title = str(meta.get("title") or doc.title)
    doc.authored = True
    return doc


def read_text(data: bytes) -> Document:
    """Plain text; numbered lines («1.2. Сроки выплаты») become headings."""
    return _from_lines(_decode(data).splitlines(), _numbered_heading)


def read_html(data: bytes) -> Document:
    """HTML: page chrome elements are dropped, h1–h6 become headings."""
    check_html(data)
    soup = BeautifulSoup(data, "lxml")
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "aside", "form",
                     "iframe", "svg", "button", "template"]):
        tag.decompose()
    chrome = [*soup.find_all(class_=_CHROME_ATTR), *soup.find_all(id=_CHROME_ATTR)]
    for tag in chrome:
        if not tag.decomposed:
            tag.decompose()
    lines: list[str] = []
    for el in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "pre", "blockquote"]):
        if el.find(["p", "li", "td"]):  # a container: its children are visited on their own
            continue
        text = " ".join(el.get_text(" ").split())
        if text:
            lines.append("#" * int(el.name[1]) + " " + text if el.name[0] == "h" else text)
    title = soup.title.get_text(strip=True) if soup.title else ""
    doc = _from_lines(lines, _markdown_heading)
    doc.title = doc.title or title
    return doc


def read_pdf(data: bytes) -> Document:
    """PDF text layer, page by page; scanned pages without text are skipped."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    lines: list[str] = []
    for page in reader.pages:
        lines.extend(_unwrap(page.extract_text() or ""))
    return _from_lines(lines, _numbered_heading)


def read_docx(data: bytes) -> Document:
    """Word documents: paragraphs styled «Heading N» / «Заголовок N» become headings."""
    import docx

    check_docx(data)
    lines: list[str] = []
    for para in docx.Document(io.BytesIO(data)).paragraphs:
        text = para.text.strip()
        level = _docx_heading_level(para.style.name if para.style is not None else "")
        lines.append("#" * level + " " + text if level and text else text)
    doc = _from_lines(lines, _markdown_heading)
    doc.authored = True
    return doc


READERS: dict[str, Callable[[bytes], Document]] = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_text,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
}

#: Formats whose parsers run in a bounded child process (see `pipelines.ingest.worker`).
ISOLATED = frozenset({".html", ".htm", ".pdf", ".docx"})

_CHROME_ATTR = re.compile(
    r"cookie|banner|breadcrumb|navbar|menu|sidebar|footer|header|share|social|subscribe|advert|popup",
    re.IGNORECASE,
)

HeadingRule = Callable[[str], tuple[int, str] | None]


def _markdown_heading(line: str) -> tuple[int, str] | None:
    m = _MD_HEADING.match(line.strip())
    return (len(m.group(1)), m.group(2).strip()) if m else None


def _numbered_heading(line: str) -> tuple[int, str] | None:
    s = line.strip()
    m = _NUMBERED_HEADING.match(s)
    if not m or _SENTENCE_END.search(s) or len(s) > 120:
        return None
    return (m.group(1).count(".") + 1, s)


def _from_lines(lines: list[str], heading: HeadingRule) -> Document:
    """Group lines into blocks under the heading path that is open at each line."""
    path: list[tuple[int, str]] = []
    blocks = [Block(headings=())]
    title = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        found = heading(line)
        if found is None:
            blocks[-1].paragraphs.append(line)
            continue
        level, text = found
        title = title or text
        path = [(lv, t) for lv, t in path if lv < level] + [(level, text)]
        blocks.append(Block(headings=tuple(t for _, t in path)))
    return Document(title=title, blocks=[b for b in blocks if b.paragraphs])


_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")


def _flatten_tables(lines: list[str]) -> list[str]:
    """Markdown table rows become «Заголовок: значение; …» lines a reader (and BM25) understands."""
    out: list[str] = []
    header: list[str] | None = None
    for line in lines:
        if not _TABLE_ROW.match(line):
            header = None
            out.append(line)
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if _TABLE_RULE.match(line):
            continue
        if header is None:
            header = cells
            continue
        pairs = [f"{h}: {v}" if h else v for h, v in zip(header, cells, strict=False) if v]
        out.append("; ".join(pairs) + ".")
    return out


def _split_front_matter(text: str) -> tuple[str, dict]:
    if not text.startswith("---"):
        return text, {}
    parts = text.split("\n---", 2)
    if len(parts) < 2:
        return text, {}
    try:
        meta = yaml.safe_load(parts[0][3:]) or {}
    except yaml.YAMLError as exc:
        raise UnreadableFile(None, f"ошибка в заголовке YAML: {exc}") from exc
    rest = parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
    return rest, meta if isinstance(meta, dict) else {}


def _unwrap(page_text: str) -> list[str]:
    """Join PDF lines that were hard-wrapped mid-sentence back into paragraphs."""
    out: list[str] = []
    for line in page_text.splitlines():
        s = line.strip()
        if out and s and out[-1] and not _SENTENCE_END.search(out[-1]) and s[0].islower():
            out[-1] = out[-1].rstrip("-") + ("" if out[-1].endswith("-") else " ") + s
        else:
            out.append(s)
    return out


def _docx_heading_level(style: str) -> int:
    m = re.match(r"(?:heading|заголовок)\s*(\d)", style.strip(), re.IGNORECASE)
    if m:
        return int(m.group(1))
    return 1 if style.strip().lower() in {"title", "название"} else 0
