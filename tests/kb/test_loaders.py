"""Every supported format is read; a file that cannot be read is skipped with a reason.

One ingest run over a folder that mixes good files of each format with broken
ones checks that the broken ones never stop the run.
"""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, NumberObject

from knowledge.embedder import Embedder
from knowledge.types import SearchFilter
from pipelines.ingest.errors import UnreadableFile
from pipelines.ingest.loaders import load
from tests.kb.conftest import BuiltIndex, build_index, normal

# A distinctive word per good file: searching for it must find that file.
GOOD = {
    "cards/letters.md": "аккредитив",
    "cash.txt": "инкассация",
    "overdraft-cp1251.txt": "овердрафт",
    "escrow.html": "эскроу",
    "factoring.pdf": "факторинг",
    "leasing.docx": "лизинг",
}
BROKEN = ["empty.txt", "picture.txt", "broken.pdf", "broken.docx", "archive.zip"]

PNG_BYTES = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
             b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00")

# cp1251 bytes 0xC0–0xFF are А–я; these are their Adobe glyph names (Ё/ё are elsewhere).
_UPPER = [10017, 10018, 10019, 10020, 10021, 10022, *range(10024, 10050)]
_LOWER = [10065, 10066, 10067, 10068, 10069, 10070, *range(10072, 10098)]


def pdf_bytes(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds `lines` (Cyrillic through a glyph-name encoding)."""
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    differences = ArrayObject([NumberObject(0xC0)]
                              + [NameObject(f"/afii{n}") for n in (*_UPPER, *_LOWER)])
    encoding = DictionaryObject({
        NameObject("/Type"): NameObject("/Encoding"),
        NameObject("/BaseEncoding"): NameObject("/WinAnsiEncoding"),
        NameObject("/Differences"): differences,
    })
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
        NameObject("/Encoding"): encoding,
    })
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
    )

    def literal(text: str) -> bytes:
        raw = text.encode("cp1251")
        return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"

    content = DecodedStreamObject()
    content.set_data(b"BT /F1 11 Tf 50 780 Td 14 TL "
                     + b" ".join(literal(line) + b" Tj T*" for line in lines) + b" ET")
    page[NameObject("/Contents")] = content
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def docx_bytes() -> bytes:
    document = docx.Document()
    document.add_heading("Лизинг оборудования", level=1)
    document.add_paragraph("Банк финансирует лизинг оборудования для малого бизнеса на срок до пяти лет.")
    document.add_paragraph("Авансовый платеж по договору лизинга составляет от десяти процентов.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def write_mixed_folder(root: Path) -> None:
    (root / "cards").mkdir(parents=True)
    (root / "cards" / "letters.md").write_text(
        "---\ntitle: Аккредитивы\ntags: [trade, documents]\n---\n"
        "# Аккредитив\n\nАккредитив защищает продавца и покупателя при расчетах по сделке.\n\n"
        "## Открытие\n\nБанк открывает аккредитив за один рабочий день.\n",
        encoding="utf-8",
    )
    (root / "cash.txt").write_text(
        "1. Инкассация\nБанк проводит инкассацию выручки магазинов каждый рабочий день.\n"
        "Инкассаторы приезжают в согласованное время.\n",
        encoding="utf-8",
    )
    (root / "overdraft-cp1251.txt").write_bytes(
        "1. Овердрафт\nОвердрафт позволяет уйти в минус по счету в пределах лимита.\n"
        "Проценты начисляются только на использованную сумму.\n".encode("cp1251")
    )
    (root / "escrow.html").write_text(
        "<html><head><title>Эскроу</title></head><body><nav>Главная Вклады Кредиты</nav>"
        "<h1>Эскроу-счет</h1><p>Деньги покупателя жилья хранятся на счете эскроу до сдачи дома.</p>"
        "<p>Застройщик получает деньги после ввода дома в эксплуатацию.</p></body></html>",
        encoding="utf-8",
    )
    (root / "factoring.pdf").write_bytes(pdf_bytes([
        "1. Факторинг для бизнеса",
        "Факторинг позволяет получить деньги по счетам покупателей сразу после поставки.",
        "Банк берет комиссию за каждую уступку требования.",
    ]))
    (root / "leasing.docx").write_bytes(docx_bytes())
    (root / "empty.txt").write_bytes(b"  \n\n\t\n")
    (root / "picture.txt").write_bytes(PNG_BYTES)
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\ntruncated here")
    (root / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip archive")
    (root / "archive.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    (root / ".hidden.md").write_text("# Скрытый\n\nСкрытые файлы не читаются.\n", encoding="utf-8")


@pytest.fixture(scope="module")
def mixed_kb(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> BuiltIndex:
    root = tmp_path_factory.mktemp("mixed-docs")
    write_mixed_folder(root)
    return build_index(tmp_path_factory.mktemp("mixed-index"), [root], lambda: embedder)


def test_every_supported_format_is_added(mixed_kb: BuiltIndex) -> None:
    assert sorted(mixed_kb.report.added) == sorted(GOOD)
    assert not mixed_kb.report.updated and not mixed_kb.report.removed
    sources = {c.source for c in mixed_kb.index.snapshot().chunks}
    assert sources == set(GOOD)


def test_unreadable_files_are_skipped_with_a_reason(mixed_kb: BuiltIndex) -> None:
    skipped = dict(mixed_kb.report.skipped)
    assert sorted(skipped) == sorted(BROKEN)
    for name, reason in skipped.items():
        assert reason.strip(), name
    assert ".zip" in skipped["archive.zip"]


@pytest.mark.parametrize(("source", "word"), sorted(GOOD.items()))
def test_each_format_is_searchable(mixed_kb: BuiltIndex, source: str, word: str) -> None:
    hits = mixed_kb.index.search(word, 3, "bm25")
    assert hits, word
    assert hits[0].chunk.source == source
    assert word[:-1] in normal(hits[0].chunk.text)  # any inflected form


def test_front_matter_and_folder_give_tags(mixed_kb: BuiltIndex) -> None:
    by_source = {c.source: c for c in mixed_kb.index.snapshot().chunks}
    assert set(by_source["cards/letters.md"].tags) == {"cards", "trade", "documents"}
    assert by_source["cash.txt"].tags == ()
    # Front matter is metadata, never text.
    assert "tags:" not in by_source["cards/letters.md"].text
    # A tag filter returns the tagged file and untagged (general) files, nothing else.
    hits = mixed_kb.index.search("банк", 10, "bm25", SearchFilter(frozenset({"trade"})))
    assert {h.chunk.source for h in hits} >= {"cards/letters.md", "cash.txt"}
    assert all("trade" in h.chunk.tags or not h.chunk.tags for h in hits)


def test_markdown_loader(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text("---\ntags: [loans, cards]\ntitle: Карты\n---\n# Карты\n\nКарта выпускается бесплатно.\n",
                    encoding="utf-8")
    doc = load(path)
    assert doc.tags == ("loans", "cards")
    assert doc.title == "Карты"
    assert "Карта выпускается бесплатно." in doc.text()
    assert "tags" not in doc.text()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251"])
def test_text_loader_reads_russian_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes("2.3. Валюта вкладов\nВклады в юанях тоже застрахованы.\n".encode(encoding))
    doc = load(path)
    assert doc.blocks[0].headings == ("2.3. Валюта вкладов",)
    assert doc.text() == "Вклады в юанях тоже застрахованы."


def test_pdf_loader_reads_the_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "factoring.pdf"
    path.write_bytes(pdf_bytes(["1. Факторинг", "Факторинг ускоряет оборот денег,",
                                "потому что банк платит сразу."]))
    doc = load(path)
    assert doc.blocks[0].headings == ("1. Факторинг",)
    # A line hard-wrapped mid-sentence is joined back.
    assert doc.text() == "Факторинг ускоряет оборот денег, потому что банк платит сразу."


@pytest.mark.parametrize(("name", "data"), [
    ("empty.txt", b""),
    ("blank.md", b" \n\n "),
    ("picture.txt", PNG_BYTES),
    ("broken.pdf", b"%PDF-1.7\nthis is not a pdf body"),
    ("broken.docx", b"not a zip at all"),
    ("table.xlsx", b"PK\x03\x04"),
    ("README", b"no extension"),
])
def test_unreadable_file_raises_with_a_reason(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(UnreadableFile) as exc:
        load(path)
    assert exc.value.reason.strip()
    assert exc.value.path == path


def test_unsupported_file_named_explicitly_is_skipped(
    tmp_path: Path, embedder: Embedder
) -> None:
    good = tmp_path / "ok.md"
    good.write_text("# Вклад\n\nВклад открывается онлайн.\n", encoding="utf-8")
    odd = tmp_path / "table.xlsx"
    odd.write_bytes(b"PK\x03\x04")
    missing = tmp_path / "missing.md"
    kb = build_index(tmp_path / "index", [odd, good, missing], lambda: embedder)
    assert kb.report.added == ["ok.md"]
    assert {name for name, _ in kb.report.skipped} == {"table.xlsx", str(missing)}
