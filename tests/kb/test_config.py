"""Configuration: a wrong setting stops with a message naming the key; secrets stay hidden."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bots.config import ConfigError, load_settings
from tests.kb.conftest import MainResult, write_config

# (config text, key named in the message)
BROKEN = {
    "unknown key": ("server: {host: 127.0.0.1, prot: 8080}\n", "server.prot"),
    "unknown section": ("servr: {port: 8080}\n", "servr"),
    "wrong type": ("server: {port: eighty}\n", "server.port"),
    "out of range": ("server: {port: 70000}\n", "server.port"),
    "wrong literal": ("llm: {provider: foo}\n", "llm.provider"),
    "openai without base_url": ("llm: {provider: openai, model: qwen}\n", "llm.base_url"),
    "telegram without token": (
        'channels:\n  telegram: {enabled: true, token: "${TELEGRAM_BOT_TOKEN}"}\n', "channels.telegram"),
    "invalid yaml": ("server: {port: 8080\nstore: [\n", "config.yaml"),
}


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)


@pytest.mark.usefixtures("no_token")
@pytest.mark.parametrize(("text", "key"), list(BROKEN.values()), ids=list(BROKEN))
def test_broken_setting_raises_config_error(tmp_path: Path, text: str, key: str) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert key in str(exc.value)


def test_wrong_literal_names_the_value_and_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(tmp_path, "llm: {provider: foo}\n"))
    assert exc.value.key == "llm.provider"
    assert "'foo'" in str(exc.value) and "offline" in str(exc.value) and "openai" in str(exc.value)


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config.yaml"
    with pytest.raises(ConfigError) as exc:
        load_settings(missing, required=True)
    assert str(missing) in str(exc.value)
    # Without --config a missing file means all defaults.
    assert load_settings(missing).server.port == 8080


@pytest.mark.usefixtures("no_token")
@pytest.mark.parametrize(("text", "key"), list(BROKEN.values()), ids=list(BROKEN))
def test_broken_setting_through_the_command_line(
    tmp_path: Path, run_main: Callable[..., MainResult], text: str, key: str
) -> None:
    config = write_config(tmp_path, text)
    result = run_main("--config", config, "kb", "search", "вклад", "--index", tmp_path / "index")
    assert result.code == 2
    assert key in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "index").exists()


def test_missing_explicit_config_through_the_command_line(
    tmp_path: Path, run_main: Callable[..., MainResult]
) -> None:
    missing = tmp_path / "missing.yaml"
    result = run_main("--config", missing, "kb", "search", "вклад", "--index", tmp_path / "index")
    assert result.code == 2
    assert str(missing) in result.stderr


def test_config_from_environment_variable_is_checked(
    tmp_path: Path, run_main: Callable[..., MainResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOVETNIK_CONFIG", str(write_config(tmp_path, "server: {port: eighty}\n")))
    result = run_main("kb", "search", "вклад", "--index", tmp_path / "index")
    assert result.code == 2
    assert "server.port" in result.stderr


def test_placeholders_are_substituted(tmp_path: Path) -> None:
    path = write_config(tmp_path, (
        'server: {host: "${BIND_HOST}", port: "${BIND_PORT}"}\n'
        'embeddings: {model: "${MODELS}/e5-small"}\n'
        'channels:\n  telegram: {enabled: true, token: "${TG_TOKEN}", managers_chat_id: "${MANAGERS}"}\n'
    ))
    settings = load_settings(path, env={"BIND_HOST": "0.0.0.0", "BIND_PORT": "9090", "MODELS": "/opt/models",
                                        "TG_TOKEN": "123:abc", "MANAGERS": "-100500"})
    assert settings.server.host == "0.0.0.0"
    assert settings.server.port == 9090
    assert settings.embeddings.model == "/opt/models/e5-small"
    assert settings.channels.telegram.token is not None
    assert settings.channels.telegram.token.get_secret_value() == "123:abc"
    assert settings.channels.telegram.managers_chat_id == -100500


def test_unset_placeholder_of_an_optional_key_is_fine(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'channels:\n  telegram: {enabled: false, token: "${TG_TOKEN}"}\n')
    settings = load_settings(path, env={})
    assert settings.channels.telegram.enabled is False


def test_secrets_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    db_password, token = "db-Pa55word-xyz", "987654:TOKEN-secret-value"
    path = write_config(tmp_path, (
        'store: {url: "postgresql+asyncpg://bank:${DB_PASSWORD}@db.internal/sovetnik"}\n'
        'channels:\n  telegram: {enabled: true, token: "${TG_TOKEN}"}\n'
        'llm: {provider: openai, base_url: "http://127.0.0.1:8000/v1", model: m, api_key: "${LLM_KEY}"}\n'
    ))
    env = {"DB_PASSWORD": db_password, "TG_TOKEN": token, "LLM_KEY": "sk-hidden"}
    settings = load_settings(path, env=env)
    assert db_password in settings.store.url.get_secret_value()
    for shown in (repr(settings), str(settings), repr(settings.store), str(settings.channels),
                  repr(settings.channels.telegram), str(settings.llm), settings.model_dump_json()):
        for secret in (db_password, token, "sk-hidden"):
            assert secret not in shown


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "etc" / "sovetnik"
    path = write_config(folder, (
        f"knowledge: {{docs_dir: kb/docs, index_dir: {tmp_path / 'abs-index'}}}\n"
        "agents: {roles_dir: ../roles}\n"
    ))
    settings = load_settings(Path("etc/sovetnik/config.yaml"))
    assert settings.path(settings.knowledge.docs_dir) == folder.resolve() / "kb" / "docs"
    assert settings.path(settings.knowledge.index_dir) == tmp_path / "abs-index"
    assert settings.path(settings.agents.roles_dir).resolve() == (tmp_path / "etc" / "roles").resolve()
    assert path.exists()

