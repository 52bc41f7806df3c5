"""Broken configuration through the real command line: one Russian line naming the key, no traceback.

Every case is a config a real operator could write by mistake. The command is
run as a subprocess (`sovetnik --config X ...`), exactly as an operator would,
so a traceback anywhere between argument parsing and the first use of the
setting shows up here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SEARCH = ("kb", "search", "вклад")
LEADS = ("leads", "list")
USERS = ("users", "add", "anna", "--role", "admin", "--password-stdin")


@dataclass(frozen=True)
class Broken:
    """One broken config: how to make it, the key the message must name, the command to run."""

    name: str
    make: Callable[[Path], Path]
    key: str
    command: tuple[str, ...] = SEARCH


def _text(body: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "config.yaml"
        path.write_text(body, encoding="utf-8")
        return path
    return make


def _bytes(body: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "config.yaml"
        path.write_bytes(body)
        return path
    return make


def _missing(folder: Path) -> Path:
    return folder / "nowhere" / "config.yaml"


def _folder(folder: Path) -> Path:
    path = folder / "config.yaml"
    path.mkdir()
    return path


def _dangling_link(folder: Path) -> Path:
    path = folder / "config.yaml"
    path.symlink_to(folder / "gone.yaml")
    return path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unreachable_pg(folder: Path) -> Path:
    return _text(f'store: {{url: "postgresql+asyncpg://bank:pw@127.0.0.1:{_closed_port()}/bank"}}\n')(folder)


def _unreachable_redis(folder: Path) -> Path:
    return _text(f'store: {{url: "sqlite+aiosqlite:///{folder}/db.sqlite"}}\n'
                 f'knowledge: {{index_dir: "{folder}/index"}}\n'
                 f'agents: {{roles_dir: "{REPO_ROOT}/agents/roles"}}\n'
                 f'redis: {{url: "redis://:pw@127.0.0.1:{_closed_port()}/0"}}\n'
                 'scale: {lock: redis}\n')(folder)


def _sqlite_in_a_file(folder: Path) -> Path:
    (folder / "blocker").write_text("a file, not a folder")
    return _text(f'store: {{url: "sqlite+aiosqlite:///{folder}/blocker/db.sqlite"}}\n')(folder)


CASES = [
    # -- the file itself
    Broken("file missing", _missing, "config.yaml"),
    Broken("config is a folder", _folder, "config.yaml"),
    Broken("dangling symlink", _dangling_link, "config.yaml"),
    Broken("not UTF-8", _bytes("server: {host: 'Сервер'}\n".encode("cp1251")), "config.yaml"),
    Broken("binary garbage", _bytes(b"\x00\x01\x02\xff\xfe" * 20), "config.yaml"),
    Broken("invalid YAML", _text("server: {port: 8080\nstore: [\n"), "config.yaml"),
    Broken("tab indentation", _text("server:\n\tport: 8080\n"), "config.yaml"),
    Broken("top level is a list", _text("- server\n- store\n"), "config.yaml"),
    Broken("top level is a scalar", _text("just words\n"), "config.yaml"),
    Broken("base_dir given", _text("base_dir: /etc\n"), "base_dir"),
    # -- keys and types
    Broken("unknown section", _text("servr: {port: 8080}\n"), "servr"),
    Broken("unknown key", _text("server: {host: 127.0.0.1, prot: 8080}\n"), "server.prot"),
    Broken("section is a string", _text("server: localhost\n"), "server"),
    Broken("section is a list", _text("store: [a, b]\n"), "store"),
    Broken("port not a number", _text("server: {port: eighty}\n"), "server.port"),
    Broken("port out of range", _text("server: {port: 70000}\n"), "server.port"),
    Broken("port negative", _text("server: {port: -1}\n"), "server.port"),
    Broken("llm provider unknown", _text("llm: {provider: foo}\n"), "llm.provider"),
    Broken("openai without base_url", _text("llm: {provider: openai, model: qwen}\n"), "llm.base_url"),
    Broken("openai without model", _text("llm: {provider: openai, base_url: 'http://127.0.0.1:1/v1'}\n"),
           "llm.model"),
    Broken("llm timeout negative", _text("llm: {timeout_s: -5}\n"), "llm.timeout_s"),
    Broken("llm temperature too high", _text("llm: {temperature: 9}\n"), "llm.temperature"),
    Broken("voice device unknown", _text("voice: {device: tpu}\n"), "voice.device"),
    Broken("voice duration a word", _text("voice: {max_duration_s: long}\n"), "voice.max_duration_s"),
    Broken("voice temperatures empty", _text("voice: {temperatures: []}\n"), "voice.temperatures"),
    Broken("embeddings model a number", _text("embeddings: {model: 123}\n"), "embeddings.model"),
    Broken("docs_dir a list", _text("knowledge: {docs_dir: [a, b]}\n"), "knowledge.docs_dir"),
    Broken("telegram enabled not a bool", _text("channels: {telegram: {enabled: maybe}}\n"),
           "channels.telegram.enabled"),
    Broken("telegram token variable unset",
           _text('channels:\n  telegram: {enabled: true, token: "${SEC_TEST_UNSET_TOKEN}"}\n'),
           "channels.telegram"),
    Broken("telegram webhook without url",
           _text('channels:\n  telegram: {enabled: true, token: "1:x", mode: webhook}\n'),
           "channels.telegram"),
    Broken("webhook secret with a trailing space",
           _text('channels: {telegram: {webhook_secret: "s3cret-token "}}\n'),
           "channels.telegram.webhook_secret"),
    Broken("managers chat id a word", _text("channels: {telegram: {managers_chat_id: managers}}\n"),
           "channels.telegram.managers_chat_id"),
    Broken("personal data policy mistyped", _text("channels: {telegram: {personal_data: colect}}\n"),
           "channels.telegram.personal_data"),
    Broken("web chat address without scheme", _text("channels: {webchat: {public_url: bank.example}}\n"),
           "channels.webchat.public_url"),
    Broken("MAX bot address not https", _text("leads: {lawful_channels: {max: 'max.ru/bank'}}\n"),
           "leads.lawful_channels.max"),
    Broken("crm url not http", _text("leads: {crm: {url: 'ftp://crm', secret: s}}\n"), "leads.crm"),
    Broken("crm url without secret", _text("leads: {crm: {url: 'https://crm.example'}}\n"), "leads.crm"),
    Broken("consent text without version", _text("leads: {consent_text: 'Согласие'}\n"), "leads"),
    Broken("manager ids repeated", _text("leads: {managers: [{id: a}, {id: a}]}\n"), "leads"),
    Broken("scoring rule two conditions",
           _text("leads: {scoring: {rules: [{field: amount, points: 5, min: 1, present: true}]}}\n"),
           "leads.scoring.rules.0"),
    Broken("distribution unknown", _text("leads: {distribution: random}\n"), "leads.distribution"),
    # -- several processes
    Broken("redis lock without redis url", _text("scale: {lock: redis}\n"), "scale.lock"),
    Broken("postgres lock on sqlite", _text("scale: {lock: postgres}\n"), "scale.lock"),
    Broken("redis url not redis", _text("redis: {url: 'http://127.0.0.1:6379'}\n"), "redis.url"),
    Broken("redis unreachable (serve)", _unreachable_redis, "redis.url", ("serve",)),
    # -- variables
    Broken("secret variable unset inside a value",
           _text('store: {url: "postgresql+asyncpg://bank:${SEC_TEST_DB_PASSWORD}@127.0.0.1:5432/bank"}\n'),
           "SEC_TEST_DB_PASSWORD"),
    Broken("whole store url variable unset", _text('store: {url: "${SEC_TEST_DB_URL}"}\n'),
           "SEC_TEST_DB_URL"),
    Broken("server port variable unset", _text('server: {port: "${SEC_TEST_PORT}"}\n'), "SEC_TEST_PORT"),
    # -- the store URL
    Broken("store url garbage", _text('store: {url: "garbage"}\n'), "store.url"),
    Broken("store url a number", _text("store: {url: 12345}\n"), "store.url"),
    Broken("store url unsupported database", _text('store: {url: "mysql://u:p@127.0.0.1/db"}\n'),
           "store.url"),
    Broken("store url sync driver", _text('store: {url: "postgresql+psycopg2://u:p@127.0.0.1/db"}\n'),
           "store.url"),
    Broken("store url empty", _text('store: {url: ""}\n'), "store.url"),
    Broken("store unreachable (leads list)", _unreachable_pg, "store.url", LEADS),
    Broken("store unreachable (users add)", _unreachable_pg, "store.url", USERS),
    Broken("sqlite folder is a file", _sqlite_in_a_file, "store.url", LEADS),
    Broken("store url garbage (leads list)", _text('store: {url: "garbage"}\n'), "store.url", LEADS),
]


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str
    stdout: str


def _run(case: Broken, folder: Path) -> Outcome:
    folder.mkdir()
    config = case.make(folder)
    exe = shutil.which("sovetnik", path=str(Path(sys.executable).parent)) or "sovetnik"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEC_TEST_")}
    env.update(PYTHONPATH=str(REPO_ROOT), NO_COLOR="1", COLUMNS="200")
    env.pop("SOVETNIK_CONFIG", None)
    args = [exe, "--config", str(config), *case.command]
    if case.command == SEARCH:
        args += ["--index", str(folder / "index")]
    done = subprocess.run(args, cwd=folder, env=env, input="долгий-пароль-123\n", capture_output=True,
                          text=True, timeout=120)
    return Outcome(done.returncode, done.stderr, done.stdout)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case run once (two at a time: each is a fresh interpreter)."""
    root = tmp_path_factory.mktemp("broken-configs")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {c.name: pool.submit(_run, c, root / f"case{n}") for n, c in enumerate(CASES)}
        return {name: f.result() for name, f in futures.items()}


def test_there_are_at_least_39_kinds() -> None:
    assert len({c.name for c in CASES}) >= 39


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_config_ends_in_one_line_naming_the_key(outcomes: dict[str, Outcome], case: Broken) -> None:
    out = outcomes[case.name]
    shown = out.stderr.strip()
    assert out.code != 0, f"exit code 0 for a broken config; stdout: {out.stdout!r}"
    assert "Traceback" not in out.stderr
    assert case.key in shown, f"the message does not name {case.key!r}: {shown!r}"
    assert len(shown.splitlines()) == 1, f"not one line: {shown!r}"
    assert any("а" <= ch <= "я" for ch in shown.lower()), f"not Russian: {shown!r}"
    assert "pw@" not in shown, "the database password was shown"
