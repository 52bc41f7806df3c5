"""Typed, immutable settings loaded once from `config.yaml`.

Any value may be `${ENV_VAR}`; secrets are held as `SecretStr` and never
printed. A wrong or missing setting stops start-up with `ConfigError`, whose
message names the key and says how to fix it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_PATH = Path("config.yaml")
ENV_CONFIG = "SOVETNIK_CONFIG"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_MAX_SECRET = re.compile(r"[A-Za-z0-9_-]{5,256}")
_NAMED_KEY = re.compile(r"([a-z_]+(?:\.[a-z_]+)+): ")


class ConfigError(Exception):
    """A setting is wrong or missing; the message says which and how to fix it."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerSettings(_Section):
    """Where the web app listens, and the key that signs console session cookies."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    secret_key: SecretStr | None = None  # generated once into var/ when not set
    #: Origins (``https://bank.example``) whose pages may use the console and the web
    #: chat; empty means the server's own address (``host:port``, and whatever Host
    #: the browser was served the page from).
    public_origins: tuple[str, ...] = ()
    #: Send cookies only over HTTPS: set it when a TLS proxy is in front.
    cookie_secure: bool = False
    cookie_samesite: Literal["strict", "lax"] = "strict"
    #: Threads that check console passwords (argon2), so sign-ins never stall the chats.
    login_workers: int = Field(2, ge=1, le=16)

    @model_validator(mode="after")
    def _origins(self) -> ServerSettings:
        for origin in self.public_origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(f"server.public_origins: {origin!r} — нужен адрес вида "
                                 "https://bank.example или http://host:8080, без пути")
        return self


class StoreSettings(_Section):
    """The database: SQLite by default, PostgreSQL by URL."""

    url: SecretStr = SecretStr("sqlite+aiosqlite:///var/sovetnik.db")
    #: How long a reply being sent belongs to one sender: longer than any send takes.
    #: After a crash mid-send the reply goes out again once this has passed.
    outbox_lease_s: float = Field(120.0, ge=1.0, le=3600.0)

    @field_validator("url")
    @classmethod
    def _usable(cls, url: SecretStr) -> SecretStr:
        from store.db import parse_url  # the store owns which URLs it can run on
        from store.errors import DatabaseURLError

        try:
            parse_url(url.get_secret_value())
        except DatabaseURLError:
            # The URL itself is not shown: it may carry the password.
            raise ValueError("адрес базы данных не подходит: нужен sqlite+aiosqlite:///путь/к/файлу.db "
                             "или postgresql+asyncpg://пользователь:пароль@сервер:5432/база") from None
        return url


class KnowledgeSettings(_Section):
    """Knowledge files and the index built from them."""

    docs_dir: Path = Path("knowledge/docs")
    index_dir: Path = Path("var/index")


class EmbeddingSettings(_Section):
    """The sentence-transformers model: a local folder or a cached hub name."""

    model: str = "intfloat/multilingual-e5-small"
    query_prefix: str | None = None
    passage_prefix: str | None = None


LLMServerKind = Literal["hosted", "local_gpu", "local_cpu"]


class LLMProfile(_Section):
    """Limits that fit one kind of server; `docs/llm_local.md` says how they were measured."""

    max_tokens: int
    first_token_timeout_s: float
    timeout_s: float
    turn_deadline_s: float
    passages: int


#: Defaults per kind of server. `local_cpu` is a 1.5B GGUF on two CPU cores
#: (25-46 prompt tok/s, 2-10 generated tok/s): a ~1,500-token prompt takes up to a
#: minute before the first token, 256 tokens up to two more.
LLM_PROFILES: dict[str, LLMProfile] = {
    "hosted": LLMProfile(max_tokens=512, first_token_timeout_s=20, timeout_s=45,
                         turn_deadline_s=90, passages=4),
    "local_gpu": LLMProfile(max_tokens=400, first_token_timeout_s=30, timeout_s=90,
                            turn_deadline_s=180, passages=4),
    "local_cpu": LLMProfile(max_tokens=256, first_token_timeout_s=150, timeout_s=240,
                            turn_deadline_s=480, passages=3),
}


class LLMSettings(_Section):
    """The chat model; `offline` answers from the knowledge base without one.

    `server` picks measured limits for the kind of endpoint (`hosted` API, a
    local model on a GPU, or on CPU); `max_tokens`, `first_token_timeout_s`,
    `timeout_s` (a whole model call), `turn_deadline_s` and `passages` override
    them one by one. After `breaker_failures` failed turns in a row LLM mode
    answers offline for `breaker_cooldown_s`, and says so in the log.
    """

    provider: Literal["offline", "openai"] = "offline"
    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    server: LLMServerKind = "hosted"
    timeout_s: float | None = Field(None, gt=0)
    max_steps: int = Field(6, ge=1, le=20)
    turn_deadline_s: float | None = Field(None, gt=0)
    temperature: float = Field(0.2, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=16, le=32_768)
    first_token_timeout_s: float | None = Field(None, gt=0)
    passages: int | None = Field(None, ge=1, le=10)
    breaker_failures: int = Field(3, ge=1, le=1000)
    breaker_cooldown_s: float = Field(120.0, ge=0)

    def profile(self) -> LLMProfile:
        """The limits in force: the server kind's defaults with explicit keys applied."""
        base = LLM_PROFILES[self.server]
        keys = ("max_tokens", "first_token_timeout_s", "timeout_s", "turn_deadline_s", "passages")
        return base.model_copy(update={k: getattr(self, k) for k in keys if getattr(self, k) is not None})

    @model_validator(mode="after")
    def _needs_endpoint(self) -> LLMSettings:
        if self.provider == "openai":
            for key in ("base_url", "model"):
                if not getattr(self, key):
                    raise ValueError(f"при llm.provider: openai нужен ключ llm.{key}")
        return self


class AgentsSettings(_Section):
    """Where agent roles live and which one greets a new customer."""

    roles_dir: Path = Path("agents/roles")
    default_role: str = "front_desk"


class VoiceSettings(_Section):
    """Local speech recognition for voice notes (faster-whisper).

    `model` is a local CTranslate2 folder or a model name already in the
    Hugging Face cache: nothing is downloaded at run time. `language: auto`
    (or null) lets the model detect it. `queue_size` voice notes may wait for
    one of the `workers`; more get a polite «повторите позже». Audio is kept
    in `audio_dir` for `retention_days` (0: not kept). `priority` of the
    transcription threads: `normal` by default — `idle` starves voice notes
    on a machine that is never idle. Text dialogs still go first: a note
    waits for running text turns, at most `yield_budget_s` in all, and stops
    its fallback ladder after `ladder_deadline_s` (`pipelines.voice.pacing`).
    `transcribe_in: thread` (default) runs the model in the product's process,
    yielding between model steps; `process` runs it in a child process per
    worker that is stopped (SIGSTOP) while text turns run, even in the middle
    of a step, for at most `yield_budget_s` per note and at most `yield_share`
    of its time so far; a child that dies is replaced and the note retried
    once (`pipelines.voice.child`).
    `initial_prompt` (`kb` by default) / `hotwords`: a hint for the model; `kb`
    builds it from the knowledge files' product names and terms (it lowered
    the word error rate, docs/benchmarks.md), any other text is used as
    written, null gives none. A transcript whose confidence (exp of the mean
    log-probability) is below `min_confidence`, or whose no-speech probability
    is above `max_no_speech_prob`, is answered «Я расслышал: «…». Верно?».
    """

    model: str = "small"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    max_duration_s: int = Field(300, ge=1, le=3600)
    max_bytes: int = Field(20 * 1024 * 1024, ge=1)
    language: str | None = "ru"
    beam_size: int = Field(1, ge=1, le=10)
    temperatures: tuple[float, ...] = Field((0.0, 0.2, 0.4, 0.6, 0.8, 1.0), min_length=1)
    compute_type: str = "int8"
    threads: int = Field(2, ge=1, le=64)
    workers: int = Field(1, ge=1, le=16)
    queue_size: int = Field(32, ge=0, le=10_000)
    priority: Literal["idle", "low", "normal"] = "normal"
    ladder_deadline_s: float | None = Field(10.0, gt=0)
    yield_budget_s: float = Field(2.0, ge=0)
    transcribe_in: Literal["process", "thread"] = "thread"
    yield_share: float = Field(0.7, ge=0, le=0.9)
    initial_prompt: str | None = "kb"
    hotwords: str | None = None
    min_confidence: float = Field(0.37, ge=0, le=1)  # exp(-1): Whisper's own log-probability limit
    max_no_speech_prob: float = Field(0.6, ge=0, le=1)
    vad_filter: bool = True
    retention_days: int = Field(30, ge=0)
    audio_dir: Path = Path("var/voice")

    @model_validator(mode="after")
    def _auto_language(self) -> VoiceSettings:
        if self.language is not None and self.language.strip().lower() in ("", "auto"):
            object.__setattr__(self, "language", None)
        return self


#: What a channel may do with customers' personal data (name, phone, account data):
#: `collect` runs the lead form there; `redirect` asks for none and offers a lawful
#: channel instead. Since 1 March 2023 a Russian bank may not pass customers' personal
#: data through foreign messengers (149-ФЗ art. 10, parts 8–10), Telegram among them.
PersonalDataPolicy = Literal["collect", "redirect"]
_POLICY_ERROR = ("допустимо collect (собирать заявку в этом канале) или redirect (не спрашивать "
                 "имя и телефон, предложить продолжить в веб-чате банка, MAX или VK)")


def _policy(value: object) -> object:
    """A clear message for a mistyped policy (pydantic's own lists the values only)."""
    if value not in ("collect", "redirect"):
        raise ValueError(f"недопустимое значение {value!r}; {_POLICY_ERROR}")
    return value


class TelegramSettings(_Section):
    """The Telegram bot; a foreign messenger, so personal data is `redirect`ed by default."""

    enabled: bool = False
    personal_data: PersonalDataPolicy = "redirect"
    token: SecretStr | None = None
    api_url: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    managers_chat_id: int | None = None
    #: The bot's sends a second over all chats (Telegram's free limit is 30; a bot with paid
    #: broadcasts may send up to 1000). One message a second per chat holds regardless.
    sends_per_s: float = Field(30.0, gt=0, le=1000)

    _personal_data = field_validator("personal_data", mode="before")(_policy)

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        # Telegram takes only these characters; a stray space would fail setWebhook at start-up.
        if secret is not None and not _WEBHOOK_SECRET.fullmatch(secret.get_secret_value()):
            raise ValueError("допустимы 1–256 символов: латинские буквы, цифры, _ и - "
                             "(без пробелов): исправьте значение или переменную окружения")
        return secret

    @model_validator(mode="after")
    def _needs_token(self) -> TelegramSettings:
        if self.enabled and not (self.token and self.token.get_secret_value()):
            raise ValueError(
                "канал включён, но токен не задан: задайте token или переменную окружения"
            )
        if self.enabled and self.mode == "webhook" and not (self.webhook_url and self.webhook_secret):
            raise ValueError("для mode: webhook нужны webhook_url и webhook_secret")
        return self


class WebchatSettings(_Section):
    """The web chat on the product's own site.

    `public_url` is the address customers reach this web app at (the chat is its
    root page); one-time links that carry a dialog over from a `redirect` channel
    point there (default: the first of
    `server.public_origins`, else `http://host:port`). Such a link works once and
    expires after `handover_ttl_minutes`.
    """

    enabled: bool = True
    personal_data: PersonalDataPolicy = "collect"
    public_url: str | None = None
    handover_ttl_minutes: int = Field(60, ge=1, le=7 * 24 * 60)

    _personal_data = field_validator("personal_data", mode="before")(_policy)

    @field_validator("public_url")
    @classmethod
    def _address(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https?://[^\s/?#]+(?:/[^\s?#]*)?", url):
            raise ValueError("нужен адрес вида https://bank.example/chat (http:// или https://)")
        return url.rstrip("/") if url else url


class VkSettings(_Section):
    """The VK community bot (Callback API in production, Bots Long Poll for development)."""

    enabled: bool = False
    #: The community's access token (messages permission).
    token: SecretStr | None = None
    group_id: int | None = Field(None, ge=1)
    api_url: str = "https://api.vk.com"
    api_version: str = "5.199"
    personal_data: PersonalDataPolicy = "collect"
    mode: Literal["longpoll", "callback"] = "longpoll"
    #: The string the callback server must return for VK's `confirmation` event.
    confirmation: SecretStr | None = None
    #: The callback secret key: every event carries it in `secret`.
    secret: SecretStr | None = None
    #: Hosts (and their subdomains) voice notes and files are downloaded from; links to
    #: anywhere else in an event are refused.
    media_hosts: tuple[str, ...] = ("userapi.com", "vk.com", "vk.me", "vkuseraudio.net")

    _personal_data = field_validator("personal_data", mode="before")(_policy)

    @model_validator(mode="after")
    def _needs_token(self) -> VkSettings:
        if not self.enabled:
            return self
        if not (self.token and self.token.get_secret_value()):
            raise ValueError("канал включён, но токен сообщества не задан: задайте token "
                             "или переменную окружения")
        if self.group_id is None:
            raise ValueError("канал включён, но не задан group_id (номер сообщества)")
        if self.mode == "callback" and not (self.confirmation and self.secret):
            raise ValueError("для mode: callback нужны confirmation и secret "
                             "(настройки Callback API сообщества)")
        return self


class MaxSettings(_Section):
    """The MAX bot (webhook subscription in production, long polling for development)."""

    enabled: bool = False
    token: SecretStr | None = None
    api_url: str = "https://platform-api.max.ru"
    personal_data: PersonalDataPolicy = "collect"
    mode: Literal["polling", "webhook"] = "polling"
    #: The public HTTPS address of this server's `/max/webhook` (MAX requires HTTPS).
    webhook_url: str | None = None
    #: Sent by MAX in `X-Max-Bot-Api-Secret` with every webhook call.
    webhook_secret: SecretStr | None = None
    #: Hosts (and their subdomains) voice notes are downloaded from; other links are refused.
    media_hosts: tuple[str, ...] = ("max.ru", "oneme.ru", "okcdn.ru", "mycdn.me")

    _personal_data = field_validator("personal_data", mode="before")(_policy)

    @field_validator("webhook_secret")
    @classmethod
    def _max_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and not _MAX_SECRET.fullmatch(secret.get_secret_value()):
            raise ValueError("допустимы 5–256 символов: латинские буквы, цифры, _ и - "
                             "(без пробелов): исправьте значение или переменную окружения")
        return secret

    @model_validator(mode="after")
    def _needs_token(self) -> MaxSettings:
        if not self.enabled:
            return self
        if not (self.token and self.token.get_secret_value()):
            raise ValueError("канал включён, но токен бота не задан: задайте token "
                             "или переменную окружения")
        if self.mode == "webhook":
            if not (self.webhook_url and self.webhook_secret):
                raise ValueError("для mode: webhook нужны webhook_url и webhook_secret")
            if not self.webhook_url.startswith("https://"):
                raise ValueError("webhook_url должен начинаться с https:// (MAX принимает только HTTPS)")
        return self


class ChannelsSettings(_Section):
    """Messenger channels."""

    telegram: TelegramSettings = TelegramSettings()
    webchat: WebchatSettings = WebchatSettings()
    vk: VkSettings = VkSettings()
    max: MaxSettings = MaxSettings()

    def personal_data(self, name: str) -> PersonalDataPolicy:
        """The personal-data policy of channel `name`; `collect` for one without the setting."""
        section = getattr(self, name, None)
        policy = getattr(section, "personal_data", "collect")
        return "redirect" if policy == "redirect" else "collect"

    def redirecting(self) -> frozenset[str]:
        """The channels whose policy is `redirect` (enabled or not: a message left pending counts)."""
        return frozenset(n for n in type(self).model_fields if self.personal_data(n) == "redirect")


class ScoringRuleSettings(_Section):
    """A scoring rule: a deal whose `field` meets the one condition given gets `points`.

    `equals` compares text (case-insensitively), `min` / `max` bound a number
    (amounts in major units of their currency), `present` asks whether the
    field is filled at all.
    """

    field: Literal["product", "amount", "currency", "term_months", "city", "channel", "role"]
    points: int = Field(ge=-100, le=100)
    equals: str | None = None
    min: float | None = None
    max: float | None = None
    present: bool | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> ScoringRuleSettings:
        given = [self.equals is not None, self.min is not None or self.max is not None,
                 self.present is not None]
        if sum(given) != 1:
            raise ValueError("у правила должно быть ровно одно условие: equals, min/max или present")
        return self


def _default_rules() -> tuple[ScoringRuleSettings, ...]:
    return (
        ScoringRuleSettings(field="amount", min=300_000, points=20),
        ScoringRuleSettings(field="amount", min=1_000_000, points=20),
        ScoringRuleSettings(field="term_months", present=True, points=10),
        ScoringRuleSettings(field="city", present=True, points=5),
    )


class ScoringSettings(_Section):
    """How a deal is scored: `base` plus the points of every matching rule, within 0–100."""

    base: int = Field(10, ge=0, le=100)
    rules: tuple[ScoringRuleSettings, ...] = Field(default_factory=_default_rules)


class ManagerSettings(_Section):
    """A manager new deals are assigned to; no `products` means every product."""

    id: str = Field(min_length=1, max_length=255)
    products: tuple[Literal["deposit", "loan", "other"], ...] = ()


class CrmSettings(_Section):
    """The CRM webhook deals are pushed to; without `url` they wait in the CRM outbox."""

    url: str | None = None
    secret: SecretStr | None = None
    max_attempts: int = Field(10, ge=1, le=1000)
    backoff_base_s: float = Field(2.0, gt=0)
    backoff_cap_s: float = Field(600.0, gt=0)
    timeout_s: float = Field(10.0, gt=0)
    poll_s: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _signed(self) -> CrmSettings:
        if self.url is None:
            return self
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("url должен начинаться с http:// или https://")
        if not (self.secret and self.secret.get_secret_value()):
            raise ValueError("задан url, но нет secret для подписи: задайте secret "
                             "(например, ${CRM_WEBHOOK_SECRET})")
        return self


class LawfulChannelsSettings(_Section):
    """Addresses of the bank's bots in lawful messengers, offered by `redirect` channels."""

    max: str | None = None  # e.g. https://max.ru/bank_bot
    vk: str | None = None   # e.g. https://vk.me/bank

    @field_validator("max", "vk")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https://\S+", url):
            raise ValueError("нужен адрес бота вида https://max.ru/bank_bot или https://vk.me/bank")
        return url


class LeadsSettings(_Section):
    """Leads: the consent text, scoring, distribution to managers, the CRM webhook.

    `lawful_channels` names the bank's MAX and VK bots that a `redirect` channel
    offers beside the web chat.

    `consent_text` replaces the built-in processing text; give it a new
    `consent_version` whenever it changes (the version is recorded with every
    consent).
    """

    consent_version: str | None = Field(None, min_length=1, max_length=64)
    consent_text: str | None = Field(None, min_length=1)
    scoring: ScoringSettings = ScoringSettings()
    distribution: Literal["round_robin", "by_product"] = "round_robin"
    managers: tuple[ManagerSettings, ...] = ()
    crm: CrmSettings = CrmSettings()
    lawful_channels: LawfulChannelsSettings = LawfulChannelsSettings()

    @model_validator(mode="after")
    def _consistent(self) -> LeadsSettings:
        if self.consent_text is not None and self.consent_version is None:
            raise ValueError("задан consent_text, но не задан consent_version: укажите версию текста")
        ids = [m.id for m in self.managers]
        if len(ids) != len(set(ids)):
            raise ValueError("id менеджеров в managers повторяются: оставьте каждый один раз")
        return self


class RedisSettings(_Section):
    """A Redis server that several product processes share (none by default)."""

    #: ``redis://host:6379/0`` (``rediss://`` for TLS); may carry a password, so it is a secret.
    url: SecretStr | None = None
    #: Every key and channel name starts with it: deployments sharing one Redis stay apart.
    prefix: str = Field("sovetnik", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")

    @field_validator("url")
    @classmethod
    def _redis_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("нужен адрес вида redis://сервер:6379/0 (или rediss:// для TLS)")
        return url


class ScaleSettings(_Section):
    """What several processes of the product share: see docs/scale.md."""

    #: Where a dialog's lock lives: `local` (this process only; the embedded default),
    #: `redis` (needs `redis.url`) or `postgres` (advisory locks; needs a PostgreSQL store).
    lock: Literal["local", "redis", "postgres"] = "local"
    #: A Redis lock not renewed for this long is free again (its process died).
    lock_ttl_s: float = Field(15.0, ge=1, le=600)
    #: With a shared lock, a dialog whose message has waited this long is taken over by
    #: whichever process looks first (its own process may have died mid-turn).
    take_over_s: float = Field(60.0, ge=1, le=3600)
    #: How live events (web chat replies, typing) reach the process holding the customer's
    #: socket: `local` (one process), `redis` (pub/sub; needs `redis.url`) or `postgres`
    #: (LISTEN/NOTIFY on the store's server; needs a PostgreSQL store).
    events: Literal["local", "redis", "postgres"] = "local"
    #: Whose sends a bot's pacing counts (Telegram's limits are per bot): `local` (this
    #: process's) or `redis` (every process's; needs `redis.url`).
    rate_limits: Literal["local", "redis"] = "local"


class Settings(_Section):
    """Every setting of the product; built once at start-up and passed down."""

    server: ServerSettings = ServerSettings()
    store: StoreSettings = StoreSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    llm: LLMSettings = LLMSettings()
    agents: AgentsSettings = AgentsSettings()
    voice: VoiceSettings = VoiceSettings()
    channels: ChannelsSettings = ChannelsSettings()
    leads: LeadsSettings = LeadsSettings()
    redis: RedisSettings = RedisSettings()
    scale: ScaleSettings = ScaleSettings()
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _shared_backends(self) -> Settings:
        needs_redis = [key for key, value in (("scale.lock", self.scale.lock),
                                              ("scale.events", self.scale.events),
                                              ("scale.rate_limits", self.scale.rate_limits))
                       if value == "redis"]
        if needs_redis and self.redis.url is None:
            raise ValueError(f"{needs_redis[0]}: redis требует redis.url — задайте адрес сервера Redis "
                             "(redis://сервер:6379/0) или выберите local")
        on_postgres = self.store.url.get_secret_value().startswith("postgresql")
        for key, value in (("scale.lock", self.scale.lock), ("scale.events", self.scale.events)):
            if value == "postgres" and not on_postgres:
                raise ValueError(f"{key}: postgres требует хранилище PostgreSQL (store.url: "
                                 "postgresql+asyncpg://...) — или выберите local или redis")
        return self

    def path(self, value: Path) -> Path:
        """A configured path, relative to the config file's folder."""
        return value if value.is_absolute() else (self.base_dir / value)


def config_path(explicit: str | Path | None) -> Path:
    """`--config`, else `$SOVETNIK_CONFIG`, else `./config.yaml`."""
    return Path(explicit or os.environ.get(ENV_CONFIG) or DEFAULT_PATH)


def load_settings(path: Path, *, required: bool = False, env: dict[str, str] | None = None) -> Settings:
    """Load and validate settings; a missing optional file means all defaults."""
    if not path.exists():
        if required or path.is_symlink():
            raise ConfigError(f"{path}: файл настроек не найден. Укажите путь через --config "
                              f"или переменную {ENV_CONFIG}.")
        return Settings(base_dir=path.parent.resolve())
    raw = _read_yaml(path)
    unset: dict[str, str] = {}
    data = _substitute(raw, env if env is not None else dict(os.environ), (), unset)
    try:
        return Settings.model_validate({**data, "base_dir": path.parent.resolve()})
    except ValidationError as exc:
        raise _explain(path, exc, unset) from None


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise ConfigError(f"{path}: это папка, а не файл настроек. Укажите в --config путь к config.yaml.")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: файл не в кодировке UTF-8 (байт {exc.start}). "
                          "Сохраните его в UTF-8.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: не удалось прочитать файл настроек ({exc.strerror}). "
                          "Проверьте путь и права доступа.") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    if "\x00" in text:
        raise ConfigError(f"{path}: это двоичный файл, а не YAML. Укажите в --config файл настроек.")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (строка {mark.line + 1})" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{path}{where}: это не YAML: {problem}. "
                          "Проверьте отступы (пробелы, не табуляция) и кавычки.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: ожидается словарь ключей верхнего уровня (server, store, ...).")
    if "base_dir" in raw:
        raise ConfigError(f"{path}: base_dir: неизвестный ключ. Удалите его.", "base_dir")
    return raw


def _substitute(value: Any, env: dict[str, str], key: tuple[str, ...], unset: dict[str, str]) -> Any:
    """Replace `${VAR}`; an unset variable becomes null so validation can say if it mattered.

    `unset` collects, per dotted key, the variable that was not set. A variable
    inside a longer value (a password in a URL) cannot become null: it is an
    error at once.
    """
    if isinstance(value, dict):
        return {k: _substitute(v, env, (*key, str(k)), unset) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, key, unset) for v in value]
    if not isinstance(value, str):
        return value
    whole = _PLACEHOLDER.fullmatch(value.strip())
    if whole:
        if whole.group(1) not in env:
            unset[".".join(key)] = whole.group(1)
        return env.get(whole.group(1))
    for name in _PLACEHOLDER.findall(value):
        if name not in env:
            dotted = ".".join(key)
            raise ConfigError(f"{dotted}: переменная окружения {name} не задана. "
                              f"Задайте её или уберите ${{{name}}} из {dotted}.", dotted)
    return _PLACEHOLDER.sub(lambda m: env[m.group(1)], value)


_FIXES = {
    "extra_forbidden": "неизвестный ключ: проверьте написание или удалите его",
    "missing": "обязательный ключ: добавьте его",
    "literal_error": "недопустимое значение",
    "int_parsing": "нужно целое число",
    "int_type": "нужно целое число",
    "int_from_float": "нужно целое число",
    "float_parsing": "нужно число",
    "float_type": "нужно число",
    "bool_parsing": "нужно true или false",
    "bool_type": "нужно true или false",
    "string_type": "нужна строка",
    "path_type": "нужен путь (строка)",
    "model_type": "нужен словарь вложенных ключей",
    "model_attributes_type": "нужен словарь вложенных ключей",
    "dict_type": "нужен словарь вложенных ключей",
    "tuple_type": "нужен список",
    "list_type": "нужен список",
    "too_short": "список или строка короче допустимого",
    "too_long": "список или строка длиннее допустимого",
}
_BOUNDS = {
    "greater_than": "должно быть больше {gt}",
    "greater_than_equal": "должно быть не меньше {ge}",
    "less_than": "должно быть меньше {lt}",
    "less_than_equal": "должно быть не больше {le}",
}


def _fix(err: Any) -> str:
    kind = err["type"]
    if kind in _BOUNDS:
        return _BOUNDS[kind].format(**err.get("ctx", {}))
    if kind == "literal_error":
        return f"недопустимое значение {err['input']!r}; допустимо: {err['ctx']['expected']}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return _FIXES.get(kind) or f"недопустимое значение ({err['msg']})"


def _explain(path: Path, exc: ValidationError, unset: dict[str, str]) -> ConfigError:
    """One line for the operator: the file, each broken key and its fix."""
    parts = []
    first_key = None
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"] if p != "__root__")
        fix = _fix(err)
        named = _NAMED_KEY.match(fix) if not key else None
        if named:  # a check across sections names its key itself
            key, fix = named[1], fix[named.end():]
        first_key = first_key or key
        names = sorted({v for k, v in unset.items() if k == key or k.startswith(key + ".") or
                        (key and key.startswith(k + "."))} if key else set(unset.values()))
        if names:
            fix += f" (переменная окружения {', '.join(names)} не задана: задайте её)"
        parts.append(f"{key or '(верхний уровень)'}: {fix}")
    return ConfigError(f"{path}: " + "; ".join(parts), first_key)
