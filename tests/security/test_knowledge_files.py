"""Knowledge files: links never followed, hostile names refused with a 4xx, every name escaped.

Through the real console (uvicorn, HTTP) and the real ingestion pipeline.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from knowledge.index import KnowledgeIndex
from pipelines.ingest.run import ingest
from tests.security.live_app import LiveApp, admin_client, csrf_of, running_app

CANARY = "КАНАРЕЙКА-7731 секретная ставка 99 процентов"
LONG_NAME = "deposits/" + "а" * 4539 + ".md"  # 4,552 characters


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app under uvicorn for this module's tests."""
    yield from running_app(tmp_path_factory)


def _outside_secret(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.md"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text(f"# Тайна\n\n{CANARY}. Вклад с такой ставкой.\n", encoding="utf-8")
    return secret


def _texts(index: KnowledgeIndex) -> str:
    return "\n".join(hit.chunk.text for hit in index.search("КАНАРЕЙКА секретная ставка вклад", k=20,
                                                            mode="bm25"))


# -- ingestion ------------------------------------------------------------------------


def test_symlinks_are_refused_at_ingest(tmp_path: Path, live: LiveApp) -> None:
    secret = _outside_secret(tmp_path)
    docs = tmp_path / "docs"
    (docs / "deposits").mkdir(parents=True)
    (docs / "deposits" / "real.md").write_text("# Вклад\n\nСтавка по вкладу 10 процентов.\n",
                                               encoding="utf-8")
    (docs / "deposits" / "link.md").symlink_to(secret)
    (docs / "linked").symlink_to(secret.parent, target_is_directory=True)
    index = KnowledgeIndex(tmp_path / "index", lambda: live.runtime.index.embedder)
    report = ingest([docs], index, embedder_config=live.runtime.settings.embeddings.model)
    skipped = dict(report.skipped)
    assert report.added == ["deposits/real.md"]
    assert "символическая ссылка" in skipped["deposits/link.md"]
    assert "символическая ссылка" in skipped["linked"]
    assert "КАНАРЕЙКА" not in _texts(index)
    assert not any("КАНАРЕЙКА" in p.read_text(errors="ignore") for p in (tmp_path / "index").rglob("*")
                   if p.is_file() and p.stat().st_size < 5_000_000)


def test_a_file_replaced_by_a_link_leaves_the_index(tmp_path: Path, live: LiveApp) -> None:
    secret = _outside_secret(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    target = docs / "rates.md"
    target.write_text("# Ставки\n\nСтавка по вкладу 10 процентов годовых.\n", encoding="utf-8")
    index = KnowledgeIndex(tmp_path / "index", lambda: live.runtime.index.embedder)
    config = live.runtime.settings.embeddings.model
    assert ingest([docs], index, embedder_config=config).added == ["rates.md"]
    target.unlink()
    target.symlink_to(secret)
    report = ingest([docs], index, embedder_config=config)
    assert report.removed == ["rates.md"]
    assert "КАНАРЕЙКА" not in _texts(index)


def test_an_explicit_link_is_refused_at_ingest(tmp_path: Path, live: LiveApp) -> None:
    link = tmp_path / "given.md"
    link.symlink_to(_outside_secret(tmp_path))
    index = KnowledgeIndex(tmp_path / "index", lambda: live.runtime.index.embedder)
    report = ingest([link], index, embedder_config=live.runtime.settings.embeddings.model)
    assert not report.added
    assert "символическая ссылка" in dict(report.skipped)[str(link)]


# -- the console ----------------------------------------------------------------------


@pytest.fixture
def admin(live: LiveApp) -> httpx.Client:
    return admin_client(live)


def _token(client: httpx.Client) -> str:
    return csrf_of(client.get("/console/admin/knowledge").text)


def _still_renders(client: httpx.Client) -> None:
    page = client.get("/console/admin/knowledge")
    assert page.status_code == 200
    assert "Файлы базы знаний" in page.text


def test_symlinks_are_refused_in_the_console(tmp_path: Path, live: LiveApp, admin: httpx.Client) -> None:
    secret = _outside_secret(tmp_path)
    link = live.docs_dir / "general" / "leak.md"
    link.symlink_to(secret)
    (live.docs_dir / "outside").symlink_to(secret.parent, target_is_directory=True)
    try:
        listing = admin.get("/console/admin/knowledge")
        assert listing.status_code == 200 and "leak.md" not in listing.text
        edit = admin.get("/console/admin/knowledge/edit", params={"path": "general/leak.md"})
        assert edit.status_code == 400 and "Символические ссылки" in edit.text
        assert CANARY not in edit.text
        through_dir = admin.get("/console/admin/knowledge/edit", params={"path": "outside/secret.md"})
        assert through_dir.status_code == 400 and CANARY not in through_dir.text
        saved = admin.post("/console/admin/knowledge/edit",
                           data={"csrf": _token(admin), "path": "outside/secret.md", "text": "подмена"})
        assert saved.status_code == 400
        deleted = admin.post("/console/admin/knowledge/delete",
                             data={"csrf": _token(admin), "path": "outside/secret.md"})
        assert deleted.status_code == 400
        uploaded = admin.post("/console/admin/knowledge/upload",
                              data={"csrf": _token(admin), "folder": "outside"},
                              files={"file": ("new.md", "# Новый\n\nтекст\n".encode(), "text/markdown")})
        assert uploaded.status_code == 400
        assert secret.read_text(encoding="utf-8").count(CANARY) == 1
        assert not (secret.parent / "new.md").exists()
        # A save elsewhere re-ingests the folder: the links are reported and never read.
        admin.post("/console/admin/knowledge/edit", data={
            "csrf": _token(admin), "path": "general/extra.md", "text": "# Доп\n\nДополнительный текст.\n"})
        assert "КАНАРЕЙКА" not in _texts(live.runtime.index)
    finally:
        link.unlink()
        (live.docs_dir / "outside").unlink()
        (live.docs_dir / "general" / "extra.md").unlink(missing_ok=True)


HOSTILE = {
    "4,552 characters": LONG_NAME,
    "trailing slash": "general/contacts.md/",
    "newline": "general/contacts\n.md",
    "carriage return": "general/con\rtacts.md",
    "quote": "general/it's.md",
    "double quote": 'general/say"hi".md',
    "script": "general/<script>alert(1)</script>.md",
    "traversal": "../../etc/passwd.md",
    "absolute": "/etc/passwd.md",
    "backslash": "general\\contacts.md",
    "dot file": "general/.hidden.md",
    "deep": "a/b/c.md",
    "nul": "general/a\x00.md",
    "empty": "",
}


@pytest.mark.parametrize("name", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_name_is_a_4xx_in_russian_and_the_page_still_renders(admin: httpx.Client,
                                                                        name: str) -> None:
    edit = admin.get("/console/admin/knowledge/edit", params={"path": name})
    assert 400 <= edit.status_code < 500, edit.status_code
    assert re.search("[а-я]", edit.text.split("Файлы базы знаний")[0].lower())
    save = admin.post("/console/admin/knowledge/edit",
                      data={"csrf": _token(admin), "path": name, "text": "x"})
    assert 400 <= save.status_code < 500
    delete = admin.post("/console/admin/knowledge/delete", data={"csrf": _token(admin), "path": name})
    assert 400 <= delete.status_code < 500
    _still_renders(admin)


@pytest.mark.parametrize("filename", ["it's.md", "a\nb.md", "x" * 300 + ".md", 'q"uote.md'],
                         ids=["quote", "newline", "long", "double quote"])
def test_a_hostile_upload_name_is_a_4xx(admin: httpx.Client, live: LiveApp, filename: str) -> None:
    answer = admin.post("/console/admin/knowledge/upload", data={"csrf": _token(admin)},
                        files={"file": (filename, "# Т\n\nтекст\n".encode(), "text/markdown")})
    assert 400 <= answer.status_code < 500
    assert "имя" in answer.text.lower() or "имени" in answer.text.lower()
    _still_renders(admin)


def test_a_file_named_with_a_quote_is_escaped_everywhere_and_never_in_script(
        live: LiveApp, admin: httpx.Client) -> None:
    name = """o'k"<b>.md"""
    on_disk = live.docs_dir / "general" / name
    on_disk.write_text("# Т\n\nтекст\n", encoding="utf-8")
    try:
        page = admin.get("/console/admin/knowledge")
        assert page.status_code == 200
        assert name not in page.text  # never raw
        assert "<b>.md" not in page.text
        questions = [html.unescape(q) for q in re.findall(r'data-confirm="([^"]*)"', page.text)]
        assert f"Удалить general/{name}?" in questions  # the attribute round-trips exactly
        assert "onsubmit" not in page.text and "onclick" not in page.text
        for script in re.findall(r"<script[^>]*>(.*?)</script>", page.text, re.S):
            assert "o'k" not in script and "o&#39;k" not in script
    finally:
        on_disk.unlink()


def test_a_good_name_still_works(admin: httpx.Client, live: LiveApp) -> None:
    saved = admin.post("/console/admin/knowledge/edit", data={
        "csrf": _token(admin), "path": "deposits/Новый вклад-2.md",
        "text": "# Вклад\n\nСтавка 9 процентов.\n"})
    assert saved.status_code == 303
    assert (live.docs_dir / "deposits" / "Новый вклад-2.md").exists()
    deleted = admin.post("/console/admin/knowledge/delete",
                         data={"csrf": _token(admin), "path": "deposits/Новый вклад-2.md"})
    assert deleted.status_code == 303
    assert not (live.docs_dir / "deposits" / "Новый вклад-2.md").exists()
