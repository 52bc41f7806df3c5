"""Logging that carries ids, never personal data or secrets, at every level.

`install_redaction` makes every log record pass through `knowledge.ru.sensitive`
when it is created: phones, card numbers, introduced names and bot tokens in
the message, its arguments and its traceback are masked, whichever logger or
handler it goes to. Libraries that log request bodies or SQL parameters at
DEBUG (database drivers, HTTP clients, the OpenAI client) are kept at WARNING
even with `--verbose`: what they would print is customers' text.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping
from typing import Any

from knowledge.ru.sensitive import redact

#: Loggers whose DEBUG/INFO output quotes message texts, prompts or SQL parameters.
QUIET_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy", "httpx", "httpcore", "openai", "langchain",
                 "langchain_core", "langchain_openai", "aiogram.event", "urllib3", "multipart",
                 "python_multipart", "bm25s", "chromadb", "sentence_transformers")
_BOT_TOKEN = re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b")
_SECRET_PARAM = re.compile(r"(?i)(api[_-]?key|token|secret|password)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",&]+")


def clean(text: str) -> str:
    """A log line without personal data or secrets."""
    text = _BOT_TOKEN.sub("<token>", text)
    text = _SECRET_PARAM.sub(r"\1\2***", text)
    return redact(text, loose=False)  # ids (update, chat, inbox) are long numbers too


def _clean_arg(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if value is None or isinstance(value, (int, float)):
        return value
    shown = str(value)
    cleaned = clean(shown)
    return value if cleaned == shown else cleaned


class _Redacting:
    """A log record factory wrapping the previous one."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep it as logging would show it
            return record
        if clean(message) != message:
            _scrub(record, message)
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters print `exc_text` when it is set, instead of formatting exc_info again.
            record.exc_text = clean("".join(traceback.format_exception(*record.exc_info)).rstrip())
        return record


def _scrub(record: logging.LogRecord, message: str) -> None:
    """Clean the format string and each argument, keeping their shape (some formatters unpack them)."""
    if isinstance(record.msg, str):
        record.msg = clean(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_clean_arg(a) for a in record.args)
    elif isinstance(record.args, Mapping):
        record.args = {k: _clean_arg(v) for k, v in record.args.items()}
    try:
        still = record.getMessage()
    except Exception:
        still = message
    if clean(still) != still:  # a number split between the format and an argument
        record.msg, record.args = clean(message), ()


def install_redaction() -> None:
    """Mask personal data and secrets in every log record from now on (idempotent)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _Redacting):
        logging.setLogRecordFactory(_Redacting(factory))
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
