"""Which names and paths may be knowledge files: one rule for ingestion and the console.

A knowledge file is `file.ext` or `folder/file.ext` inside the knowledge folder;
the folder is the file's tag. Each part is letters, digits, `_`, `-`, `.`
and inner spaces, up to `MAX_PART` characters, and does not start with a dot.
Symbolic links are never followed: a link (or a path through one) could lead
out of the knowledge folder, and its text would reach customers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from pathlib import Path

from knowledge.errors import UnsafeFileName

MAX_PART = 100
MAX_DEPTH = 2  # folder (tag) + file name
MAX_NAME = MAX_PART * MAX_DEPTH + MAX_DEPTH - 1
_PART = re.compile(r"\w[\w.\- ]*", re.UNICODE)


def check_name(rel: str, suffixes: Collection[str]) -> str:
    """`rel` as `folder/file.ext` when it is an acceptable name; `UnsafeFileName` otherwise."""
    if not isinstance(rel, str) or not rel.strip():
        raise UnsafeFileName("Укажите имя файла, например deposits/vklady.md.")
    if any(unicodedata.category(ch)[0] == "C" for ch in rel):
        raise UnsafeFileName("В имени файла есть управляющие символы (перевод строки, табуляция и т. п.).")
    if len(rel) > MAX_NAME:
        raise UnsafeFileName(f"Имя файла длиннее {MAX_NAME} символов.")
    if "\\" in rel or rel.startswith("/") or rel.endswith("/"):
        raise UnsafeFileName("Имя файла: папка/файл.md — без обратной косой черты и косой черты "
                             "в начале или в конце.")
    parts = rel.split("/")
    if len(parts) > MAX_DEPTH:
        raise UnsafeFileName("Допустима одна папка (тег) и имя файла: например deposits/vklady.md.")
    for part in parts:
        _check_part(part)
    if Path(parts[-1]).suffix.lower() not in suffixes:
        raise UnsafeFileName("Поддерживаются " + ", ".join(sorted(suffixes)) + ".")
    return "/".join(parts)


def _check_part(part: str) -> None:
    if len(part) > MAX_PART:
        raise UnsafeFileName(f"Часть имени длиннее {MAX_PART} символов.")
    if part in (".", "..") or part.startswith("."):
        raise UnsafeFileName("Имя файла или папки не может начинаться с точки.")
    if not _PART.fullmatch(part) or part != part.strip() or part.endswith("."):
        raise UnsafeFileName("Недопустимое имя файла: буквы, цифры, точка, дефис, подчёркивание "
                             "и пробелы внутри имени.")


def resolve_inside(root: Path, rel: str, suffixes: Collection[str]) -> Path:
    """The file `rel` inside `root`; `UnsafeFileName` for a bad name, a link or a way out."""
    name = check_name(rel, suffixes)
    base = root.resolve()
    path = base.joinpath(*name.split("/"))
    refuse_links(base, path)
    return path


def refuse_links(root: Path, path: Path) -> None:
    """`UnsafeFileName` when `path`, or a folder between `root` and it, is a link or leads out."""
    base = root.resolve()
    current = path
    while current != base and base in current.parents:
        if current.is_symlink():
            raise UnsafeFileName("Символические ссылки в базе знаний не принимаются.")
        current = current.parent
    if current != base:
        raise UnsafeFileName("Файл должен лежать внутри папки базы знаний.")
    if path.exists() and base not in path.resolve().parents:
        raise UnsafeFileName("Файл должен лежать внутри папки базы знаний.")
    if path.exists() and not path.is_file():
        raise UnsafeFileName("Это не файл.")
