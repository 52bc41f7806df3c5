"""Size before read: oversized bodies are refused before they are read, secrets before parsing.

The webhook and the console run under a real uvicorn; the client is a raw
socket that streams its body from a generator, so a 400 MB body is never
allocated on either side unless the server reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from bots.runtime import Runtime
from bots.web.app import create_app
from pipelines.ingest.errors import UnreadableFile
from pipelines.ingest.loaders import parse
from tests.fakes.telegram_server import FakeBotAPI
from tests.security.live_app import LiveApp, admin_client, csrf_of, running_app, settings_for

SECRET = "s3cr3t-webhook-token_42"
MB = 1024 * 1024
HUGE = 400 * MB
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app under uvicorn for this module's tests."""
    yield from running_app(tmp_path_factory)


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@contextlib.contextmanager
def peak_rss_growth() -> Iterator[list[int]]:
    """Samples this process's RSS every 5 ms; yields [growth] filled in on exit."""
    base, peak, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    growth = [0]
    try:
        yield growth
    finally:
        done.set()
        sampler.join()
        growth[0] = max(peak[0], _rss()) - base


def _body(total: int, prefix: bytes = b"") -> Iterator[bytes]:
    """`total` bytes of body (`prefix` first) in `CHUNK`-sized pieces, produced as they are sent."""
    if prefix:
        yield prefix
    piece = b"x" * CHUNK
    for _ in range((total - len(prefix)) // CHUNK):
        yield piece


@dataclass
class Pushed:
    status: int | None  # None: the server closed without an answer
    sent: int


async def push(port: int, path: str, total: int, *, headers: dict[str, str] | None = None,
               chunked: bool = False, raw_headers: bytes = b"", prefix: bytes = b"") -> Pushed:
    """POST a `total`-byte body streamed from a generator; stop as soon as the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = {"Content-Type": "application/octet-stream", **(headers or {})}
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items()),
             "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"]
    writer.write("\r\n".join(lines).encode() + b"\r\n" + raw_headers + b"\r\n")
    answer = asyncio.ensure_future(reader.readline())
    sent = 0
    try:
        for piece in _body(total, prefix):
            if answer.done():
                break
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            drained = asyncio.ensure_future(writer.drain())
            await asyncio.wait({drained, answer}, return_when=asyncio.FIRST_COMPLETED)
            if not drained.done():
                drained.cancel()
                break
            drained.result()
            sent += len(piece)
    except (ConnectionError, OSError):
        pass
    try:
        line = await asyncio.wait_for(answer, 10)
    except (ConnectionError, OSError):
        line = b""
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()
    parts = line.split()
    return Pushed(int(parts[1]) if len(parts) > 1 else None, sent)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Webhook:
    runtime: Runtime
    port: int


@pytest.fixture
async def webhook(tmp_path: Path) -> AsyncIterator[Webhook]:
    """The app in Telegram webhook mode under uvicorn, against a fake Bot API."""
    async with FakeBotAPI() as tg:
        settings = settings_for(tmp_path, channels={
            "telegram": {"enabled": True, "token": tg.token, "api_url": tg.base_url, "mode": "webhook",
                         "webhook_url": "https://bank.example/telegram/webhook", "webhook_secret": SECRET},
            "webchat": {"enabled": True}})
        runtime = Runtime.build(settings)
        server = _Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=0,
                                        lifespan="on", log_level="warning"))
        task = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(60):
                while not server.started:
                    assert not task.done(), "the server ended during start-up"
                    await asyncio.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            yield Webhook(runtime, port)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 60)


async def _healthy(port: int) -> bool:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_400_mb_to_the_webhook_is_refused_before_it_is_read(webhook: Webhook, chunked: bool) -> None:
    with peak_rss_growth() as growth:
        pushed = await push(webhook.port, "/telegram/webhook", HUGE, chunked=chunked,
                            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert pushed.status in (413, None)
    assert pushed.sent < 50 * MB, f"{pushed.sent // MB} MB were taken before the refusal"
    assert growth[0] < 50 * MB, f"RSS grew by {growth[0] // MB} MB"
    assert await _healthy(webhook.port)


async def test_webhook_without_the_secret_is_refused_before_the_body(webhook: Webhook) -> None:
    with peak_rss_growth() as growth:
        pushed = await push(webhook.port, "/telegram/webhook", HUGE, chunked=True)
    assert pushed.status in (401, None)
    assert pushed.sent < 50 * MB
    assert growth[0] < 50 * MB


@pytest.mark.parametrize("header", [
    f"{SECRET} x".encode(), b" ", SECRET[:-1].encode(), "секрет".encode(), SECRET.encode() + b"\xff",
], ids=["space inside", "only a space", "one short", "cyrillic", "high byte"])
async def test_a_near_miss_secret_is_401_not_500(webhook: Webhook, header: bytes) -> None:
    pushed = await push(webhook.port, "/telegram/webhook", 2 * CHUNK,
                        raw_headers=b"X-Telegram-Bot-Api-Secret-Token: " + header + b"\r\n")
    assert pushed.status == 401


async def test_the_right_secret_with_a_small_update_is_taken(webhook: Webhook) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"http://127.0.0.1:{webhook.port}/telegram/webhook",
                                   headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                                   json={"update_id": 1, "message": {
                                       "message_id": 1, "date": 0, "chat": {"id": 7, "type": "private"},
                                       "from": {"id": 7, "is_bot": False, "first_name": "К"},
                                       "text": "Здравствуйте"}})
    assert answer.status_code == 200


# -- the console --------------------------------------------------------------------


def _port(app: LiveApp) -> int:
    return int(app.url.rsplit(":", 1)[1])


def test_a_300_mb_anonymous_login_form_is_refused_before_it_is_read(live: LiveApp) -> None:
    async def go() -> Pushed:
        # A well-formed start: a parser that got this far would spool the rest to disk.
        start = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
                 b"Content-Type: application/octet-stream\r\n\r\n")
        return await push(_port(live), "/console/login", 300 * MB, chunked=True, prefix=start,
                          headers={"Content-Type": "multipart/form-data; boundary=xyz"})

    with peak_rss_growth() as growth:
        pushed = asyncio.run(go())
    assert pushed.status in (413, None)
    assert pushed.sent < 50 * MB
    assert growth[0] < 50 * MB
    assert httpx.get(f"{live.url}/healthz").status_code == 200


@pytest.mark.xfail(strict=False, reason=(
    "race in the test client: the server answers 413 before the 12 MB body is sent, and httpx "
    "sometimes reports the closed connection instead of reading that answer"))
def test_an_upload_over_the_limit_is_refused_with_a_russian_reason(live: LiveApp) -> None:
    client = admin_client(live)
    token = csrf_of(client.get("/console/admin/knowledge").text)
    answer = client.post("/console/admin/knowledge/upload", data={"csrf": token},
                         files={"file": ("big.txt", b"a" * (12 * MB), "text/plain")})
    assert answer.status_code == 413
    assert "Слишком большой запрос" in answer.text
    assert not (live.docs_dir / "big.txt").exists()


# -- parsing bombs ------------------------------------------------------------------

_CONTENT_TYPES = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                  b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                  b'<Default Extension="rels" '
                  b'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                  b'<Default Extension="xml" ContentType="application/xml"/>'
                  b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                  b'officedocument.wordprocessingml.document.main+xml"/></Types>')
_RELS = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
         b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         b'relationships/officeDocument" Target="word/document.xml"/></Relationships>')
_W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _docx(document: Iterator[bytes]) -> bytes:
    """A DOCX whose word/document.xml is streamed from `document` (compressed as it is written)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            for piece in document:
                part.write(piece)
    return out.getvalue()


def _zip_bomb(mb: int) -> Iterator[bytes]:
    yield b'<?xml version="1.0"?><w:document ' + _W + b"><w:body>"
    paragraph = b"<w:p><w:r><w:t>" + "вклад ".encode() * 100 + b"</w:t></w:r></w:p>"
    for _ in range(mb * MB // len(paragraph)):
        yield paragraph
    yield b"</w:body></w:document>"


def _billion_laughs() -> Iterator[bytes]:
    entities = [b'<!ENTITY lol0 "lol">'] + [
        b'<!ENTITY lol%d "%s">' % (n, b"&lol%d;" % (n - 1) * 10) for n in range(1, 10)]
    yield (b'<?xml version="1.0"?><!DOCTYPE w:document [' + b"".join(entities) + b"]><w:document "
           + _W + b"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>")


def _normal_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Вклад «Надёжный»", level=1)
    document.add_paragraph("Ставка по вкладу — 12% годовых.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.mark.parametrize(("make", "reason"), [
    (lambda: _docx(_zip_bomb(150)), "после распаковки больше"),
    (lambda: _docx(_billion_laughs()), "DTD"),
], ids=["zip bomb 150 MB of XML", "billion laughs"])
def test_a_docx_bomb_is_refused_without_swelling(make: object, reason: str, tmp_path: Path) -> None:
    data = make()  # type: ignore[operator]
    assert len(data) < 5 * MB  # small on the wire, huge inside
    with peak_rss_growth() as growth, pytest.raises(UnreadableFile) as refused:
        parse(tmp_path / "bomb.docx", data)
    assert reason in refused.value.reason
    assert growth[0] < 50 * MB, f"RSS grew by {growth[0] // MB} MB"


def test_a_normal_docx_still_reads(tmp_path: Path) -> None:
    document = parse(tmp_path / "ok.docx", _normal_docx())
    assert "12% годовых" in document.text()


def test_a_bomb_uploaded_in_the_console_is_refused_in_russian_and_not_kept(live: LiveApp) -> None:
    client = admin_client(live)
    token = csrf_of(client.get("/console/admin/knowledge").text)
    with peak_rss_growth() as growth:
        answer = client.post("/console/admin/knowledge/upload", data={"csrf": token},
                             files={"file": ("bomb.docx", _docx(_zip_bomb(150)), "application/octet-stream")})
        health = httpx.get(f"{live.url}/healthz", timeout=5)
    assert 400 <= answer.status_code < 500
    assert "после распаковки больше" in answer.text
    assert not (live.docs_dir / "bomb.docx").exists()
    assert health.status_code == 200
    assert growth[0] < 50 * MB
