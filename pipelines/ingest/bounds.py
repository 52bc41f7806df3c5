"""Limits a knowledge file must stay within before its parser may look at it.

A DOCX is a zip of XML parts: a small upload can declare gigabytes of XML
(a zip bomb) or carry a DTD with nested entities (an XML bomb). Both are
refused from the zip's directory and the first bytes of each part, before
any XML parser runs. Sizes declared in the directory are enforced by
`zipfile` itself while reading, so a part cannot grow past what it declares.
"""

from __future__ import annotations

import io
import zipfile

from pipelines.ingest.errors import UnreadableFile

MAX_HTML_BYTES = 5 * 1024 * 1024
MAX_ZIP_ENTRIES = 1000
MAX_XML_PART_BYTES = 30 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")
_PEEK = 4096


def check_docx(data: bytes) -> None:
    """Raise `UnreadableFile` for a DOCX whose zip or XML would cost more than it is worth."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableFile(None, "это не документ Word (.docx): файл повреждён") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise UnreadableFile(None, f"в документе больше {MAX_ZIP_ENTRIES} частей")
        if sum(e.file_size for e in entries) > MAX_UNCOMPRESSED_BYTES:
            raise UnreadableFile(None, "документ после распаковки больше "
                                       f"{MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} МБ")
        for entry in entries:
            if entry.filename.endswith((".xml", ".rels")):
                _check_xml_part(archive, entry)


def _check_xml_part(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
    if entry.file_size > MAX_XML_PART_BYTES:
        raise UnreadableFile(None, f"часть документа {entry.filename} после распаковки больше "
                                   f"{MAX_XML_PART_BYTES // (1024 * 1024)} МБ")
    with archive.open(entry) as part:
        head = part.read(_PEEK)
    if any(marker in head for marker in _DTD_MARKERS):
        # Word never writes a DTD; one here is there to expand entities.
        raise UnreadableFile(None, "в документе есть объявления DTD/ENTITY: такой файл не принимается")


def check_html(data: bytes) -> None:
    """Raise `UnreadableFile` for HTML too large to be a page of knowledge."""
    if len(data) > MAX_HTML_BYTES:
        raise UnreadableFile(None, f"HTML-страница больше {MAX_HTML_BYTES // (1024 * 1024)} МБ")
