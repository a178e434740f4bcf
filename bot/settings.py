"""One validated settings object, built once from the environment and `.env`."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from redis.asyncio.connection import parse_url as parse_redis_url

from bot.console.access import MIN_TOKEN_CHARS, is_loopback_host
from bot.file_origins import check_extra_origin
from bot.llm.model_spec import ModelSpec, is_ollama_cloud, parse_closed_model, parse_local_model
from bot.rate_limits import parse_limit
from bot.redis_urls import parse_sentinel_url

OLLAMA_DEFAULT_URL = "http://localhost:11434"


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    """Every setting hearthbot reads. Field names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `LOCAL_BASE_URL=` in a copied .env.example means "not set", not "the empty string".
        env_ignore_empty=True,
    )

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    # One more origin files may be downloaded from (with the bot token), besides
    # https://files.slack.com: for tests and Slack-compatible mirrors; http only on loopback.
    slack_file_origin: str | None = None

    # HTTP listener
    host: str = "0.0.0.0"  # noqa: S104 - a server inside a container listens on all interfaces
    port: int = Field(default=3000, ge=0, le=65535)

    # Redis
    redis_url: str = "redis://localhost:6379/0"
    # Redis' password (AUTH), kept out of REDIS_URL so that the URL can be logged and shown;
    # a password in the URL still works and wins.
    redis_password: SecretStr | None = None
    redis_prefix: str = "hearthbot"
    # A blocking pool: beyond this many connections a command waits (up to the timeout)
    # for one to be free instead of failing.
    redis_max_connections: int = Field(default=50, ge=1, le=10_000)
    redis_pool_timeout_s: float = Field(default=10.0, gt=0)
    # Per command: a Redis that stops answering is an outage, not a hang.
    redis_socket_timeout_s: float = Field(default=5.0, gt=0)

    # Models
    local_model: str = "embedded"
    local_base_url: str | None = None
    local_api_key: SecretStr | None = None
    # The only proxy the on-prem model client uses; HTTP(S)_PROXY and the providers'
    # variables are ignored for it (see bot/llm/isolation.py).
    local_proxy: str | None = None
    closed_model: str = "none"
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    embedded_model_path: Path | None = None
    embedded_context_tokens: int = Field(default=4096, ge=512)
    embedded_parallel: int = Field(default=2, ge=1, le=64)
    # The whole answer, streamed or not, must arrive within this many seconds.
    model_timeout_s: float = Field(default=60.0, gt=0)
    # The context window the on-prem model serves (the embedded model's is
    # EMBEDDED_CONTEXT_TOKENS); question, thread and memory are fitted into it.
    local_context_tokens: int = Field(default=8192, ge=512)
    # The closed model's context window (today's OpenAI and Anthropic models take 128,000+).
    closed_context_tokens: int = Field(default=128_000, ge=512)
    max_answer_tokens: int = Field(default=512, ge=16)

    # Routing
    policy_file: Path | None = None
    confidential_channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    channel_cache_ttl_s: int = Field(default=300, ge=0)

    # Memory
    memory_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    memory_max_messages: int = Field(default=50, ge=2)
    memory_token_budget: int = Field(default=2000, ge=100)
    # Comma-separated Fernet keys: the first encrypts, all decrypt (for rotation).
    memory_encryption_key: SecretStr | None = None
    # Read entries from before encryption (plaintext) or from before this version (encrypted
    # without their conversation) although encryption is on: only while migrating.
    memory_accept_legacy: bool = False

    # Audit trail
    audit_max_entries: int = Field(default=100_000, ge=100)

    # Slack event de-duplication
    dedup_ttl_s: int = Field(default=3600, ge=60)

    # Load: answers computed at once per route; more wait in line, up to `max_queued`
    # per route, and beyond that are told to ask again.
    max_in_flight_local: int = Field(default=4, ge=1, le=1000)
    max_in_flight_closed: int = Field(default=32, ge=1, le=1000)
    max_queued: int = Field(default=500, ge=0, le=100_000)
    # Requests per person and per channel (shared by replicas, in Redis), e.g. 30/minute,
    # 500/hour; "none" turns a limit off.
    rate_limit_per_user: str = "30/minute"
    rate_limit_per_channel: str = "600/minute"
    # SIGTERM: answers in progress get this long to finish before the process exits.
    shutdown_grace_s: float = Field(default=30.0, ge=0)

    # The web console (/console): without a token it answers only on loopback; with one,
    # beyond loopback too, to those who sign in with it (at least 16 characters).
    console_token: SecretStr | None = None
    # Sign in with Slack (OpenID Connect) for the console: the Slack app's client ID and
    # secret, the workspace whose members may sign in, and the console's public address
    # (Slack sends people back to <CONSOLE_URL>/console/login/slack/callback).
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_team_id: str | None = None
    console_url: str | None = None
    # Who of them may (Slack user IDs, comma-separated); empty: every member.
    console_slack_users: Annotated[list[str], NoDecode] = Field(default_factory=list)
    slack_openid_url: str = "https://slack.com/openid/connect/authorize"

    log_level: str = "INFO"
    # OpenTelemetry spans (no message text) to OTEL_EXPORTER_OTLP_ENDPOINT: "otlp", or "off".
    tracing: Literal["off", "otlp"] = "off"

    @field_validator("confidential_channels", "console_slack_users", mode="before")
    @classmethod
    def _split_channels(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("console_token")
    @classmethod
    def _check_console_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"must be at least {MIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 32`)"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if parse_sentinel_url(value) is not None:
            return value
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                "must be redis://, rediss://, unix:// or redis+sentinel://host:port,…/service"
            )
        try:
            parse_redis_url(value)  # redis-py's own reading of it
        except ValueError:
            # Not redis-py's message: it can quote part of a password that is not
            # percent-encoded.
            raise ValueError(
                "cannot be read (a bad host or port, or a password whose /, # or ? is not "
                "percent-encoded)"
            ) from None
        return value

    @field_validator("rate_limit_per_user", "rate_limit_per_channel")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        parse_limit(value)  # raises ValueError with the reason
        return value

    @field_validator("slack_file_origin")
    @classmethod
    def _check_file_origin(cls, value: str | None) -> str | None:
        if value is not None:
            check_extra_origin(value)
        return value

    @field_validator("memory_encryption_key")
    @classmethod
    def _check_encryption_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        for key in _split_keys(value):
            try:
                Fernet(key.encode())
            except (ValueError, TypeError):
                raise ValueError(
                    "each key must be 32 url-safe base64-encoded bytes; make one with "
                    "hearthbot keygen"
                ) from None
        return value

    @property
    def memory_keys(self) -> list[str]:
        """MEMORY_ENCRYPTION_KEY split into its keys, newest first."""
        return _split_keys(self.memory_encryption_key) if self.memory_encryption_key else []

    @property
    def cache_signing_key(self) -> bytes | None:
        """A key for authenticating cache entries in Redis, derived from the newest
        MEMORY_ENCRYPTION_KEY (None without encryption: Redis is then trusted)."""
        keys = self.memory_keys
        if not keys:
            return None
        return hmac.new(keys[0].encode(), b"hearthbot cache signing", hashlib.sha256).digest()

    @field_validator("local_model")
    @classmethod
    def _check_local_model(cls, value: str) -> str:
        parse_local_model(value)
        return value

    @field_validator("closed_model")
    @classmethod
    def _check_closed_model(cls, value: str) -> str:
        parse_closed_model(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @model_validator(mode="after")
    def _check_slack_sign_in(self) -> Settings:
        if self.slack_client_id is None and self.slack_client_secret is None:
            return self
        missing = [
            name
            for name, value in (
                ("SLACK_CLIENT_ID", self.slack_client_id),
                ("SLACK_CLIENT_SECRET", self.slack_client_secret),
                ("SLACK_TEAM_ID", self.slack_team_id),
                ("CONSOLE_URL", self.console_url),
            )
            if value is None
        ]
        if missing:
            raise ValueError(f"{', '.join(missing)}: required for Sign in with Slack")
        assert self.console_url is not None
        assert self.slack_client_secret is not None
        url = urlsplit(self.console_url)
        loopback = url.scheme == "http" and is_loopback_host(url.hostname or "")
        if (url.scheme != "https" and not loopback) or not url.hostname or "@" in url.netloc:
            raise ValueError("CONSOLE_URL: must be https://host (plain http only on loopback)")
        if len(self.slack_client_secret.get_secret_value().strip()) < MIN_TOKEN_CHARS:
            raise ValueError("SLACK_CLIENT_SECRET: too short to be a Slack app's client secret")
        return self

    @property
    def slack_sign_in(self) -> bool:
        """True when the console offers Sign in with Slack."""
        return self.slack_client_id is not None

    @model_validator(mode="after")
    def _check_local_endpoint(self) -> Settings:
        url = self.local_url
        if url is not None and is_ollama_cloud(url):
            raise ValueError(
                "LOCAL_BASE_URL: ollama.com is Ollama's cloud, not a server of yours; "
                "confidential text would leave the premises"
            )
        # The OpenAI client falls back to OPENAI_BASE_URL and then to OpenAI's own servers
        # when it is given no URL: a "local" model configured that way would send
        # confidential text to the cloud. Refuse to start instead.
        if self.local.provider == "openai" and not self.local_base_url:
            raise ValueError(
                "LOCAL_BASE_URL: required when LOCAL_MODEL is openai:<model>; without it the "
                "OpenAI client would send confidential text to OPENAI_BASE_URL or to OpenAI"
            )
        closed = self.closed
        if closed is not None and closed.provider == "openai" and self.openai_api_key is None:
            raise ValueError("OPENAI_API_KEY: required when CLOSED_MODEL is openai:<model>")
        if closed is not None and closed.provider == "anthropic" and self.anthropic_api_key is None:
            raise ValueError("ANTHROPIC_API_KEY: required when CLOSED_MODEL is anthropic:<model>")
        return self

    @property
    def local(self) -> ModelSpec:
        """The self-hosted model, parsed from LOCAL_MODEL."""
        return parse_local_model(self.local_model)

    @property
    def closed(self) -> ModelSpec | None:
        """The closed API model, or None when CLOSED_MODEL is `none`."""
        return parse_closed_model(self.closed_model)

    @property
    def local_url(self) -> str | None:
        """Where the self-hosted server listens (None for the embedded model, chosen at start)."""
        if self.local.provider == "embedded":
            return None
        if self.local.provider == "ollama":
            return self.local_base_url or OLLAMA_DEFAULT_URL
        return self.local_base_url

    @property
    def context_tokens(self) -> int:
        """The on-prem model's context window, which every request is fitted into."""
        if self.local.provider == "embedded":
            return self.embedded_context_tokens
        return self.local_context_tokens

    def resolved_policy_file(self) -> Path | None:
        """POLICY_FILE, or `policy.yaml` in the working directory when that exists."""
        if self.policy_file is not None:
            return self.policy_file
        default = Path("policy.yaml")
        return default if default.exists() else None


def _split_keys(value: SecretStr) -> list[str]:
    return [k.strip() for k in value.get_secret_value().split(",") if k.strip()]


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, each naming the environment variable."""
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{location}: {message}" if location else message)
    return "; ".join(lines)
