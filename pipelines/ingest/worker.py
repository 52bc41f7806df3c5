"""Parsing of binary and markup formats in a separate process with a time and memory bound.

A parser that loops, or swells on a crafted file, must not take the web app's
memory or event loop with it: it runs in a child process (forked from a small
forkserver that has the parsers imported), is given `PARSE_TIMEOUT_S` and an
address-space limit, and is killed when it overstays. The caller gets a
Document or an `UnreadableFile` with a Russian reason.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext

from pipelines.ingest.document import Document
from pipelines.ingest.errors import UnreadableFile

PARSE_TIMEOUT_S = 30.0
MEMORY_LIMIT_BYTES = 2 * 1024 * 1024 * 1024
_PRELOAD = ["pipelines.ingest.loaders", "docx", "pypdf", "bs4", "lxml.etree"]


@dataclass(frozen=True)
class ParseLimits:
    """How long and how much memory one file's parser may take."""

    timeout_s: float = PARSE_TIMEOUT_S
    memory_bytes: int = MEMORY_LIMIT_BYTES


def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, ForkServerContext)
    context.set_forkserver_preload(_PRELOAD)
    return context


def _child(reader: Callable[[bytes], Document], data: bytes, memory: int, out: Connection) -> None:
    with contextlib.suppress(ValueError, OSError):  # a lower hard limit already applies
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        out.send(("ok", reader(data)))
    except UnreadableFile as exc:
        out.send(("refused", exc.reason))
    except MemoryError:
        out.send(("refused", "файл слишком сложный: его разбор требует слишком много памяти"))
    except Exception as exc:  # a broken PDF or DOCX raises anything
        out.send(("refused", f"не удалось прочитать файл: {exc.__class__.__name__}"))


def parse_isolated(reader: Callable[[bytes], Document], data: bytes,
                   limits: ParseLimits = ParseLimits()) -> Document:
    """`reader(data)` in a bounded child process; `UnreadableFile` when it fails or overstays."""
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(reader, data, limits.memory_bytes, sender), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(limits.timeout_s):
            raise UnreadableFile(None, f"файл разбирается дольше {limits.timeout_s:.0f} с: "
                                       "упростите его или сохраните как .txt")
        status, value = receiver.recv()
    except EOFError:
        raise UnreadableFile(None, "файл слишком сложный: его разбор был прерван") from None
    finally:
        receiver.close()
        process.join(1)
        if process.is_alive():
            process.kill()
            process.join(5)
    if status != "ok":
        raise UnreadableFile(None, str(value))
    assert isinstance(value, Document)
    return value
