"""Settings: validation, and documentation that matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def _variables_in(path: Path) -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]+)=", path.read_text(), flags=re.MULTILINE))


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    assert _variables_in(ROOT / ".env.example") == {name.upper() for name in Settings.model_fields}


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [n.upper() for n in Settings.model_fields if f"`{n.upper()}`" not in readme]
    assert missing == []


def test_a_copied_env_example_starts_with_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    env = tmp_path / ".env"
    env.write_text((ROOT / ".env.example").read_text())
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.local_model == "embedded"
    assert settings.local_base_url is None
    assert settings.embedded_model_path is None
    assert settings.policy_file is None
    assert settings.slack_bot_token is None
    assert settings.closed is None


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"local_model": "openai:qwen"}, "LOCAL_BASE_URL"),
        ({"local_model": "vllm:qwen"}, "LOCAL_MODEL"),
        ({"closed_model": "openai:gpt-4.1-mini"}, "OPENAI_API_KEY"),
        ({"closed_model": "anthropic:claude-sonnet-4-6"}, "ANTHROPIC_API_KEY"),
        # Ollama's cloud models run on Ollama's servers, whoever forwards to them.
        ({"local_model": "ollama:gpt-oss:120b-cloud"}, "LOCAL_MODEL"),
        ({"local_model": "ollama:deepseek-v3.1:671B-Cloud"}, "LOCAL_MODEL"),
        ({"local_model": "ollama:glm-4.6:cloud"}, "LOCAL_MODEL"),
        # Ollama's hosted API is not a local server, whatever the model is called.
        (
            {"local_model": "ollama:gpt-oss:120b", "local_base_url": "https://ollama.com"},
            "LOCAL_BASE_URL",
        ),
        (
            {"local_model": "openai:gpt-oss:120b", "local_base_url": "https://api.Ollama.com./v1"},
            "LOCAL_BASE_URL",
        ),
        # Written as Ollama's clients accept it, without a scheme.
        (
            {"local_model": "ollama:gpt-oss:120b", "local_base_url": "ollama.com:443"},
            "LOCAL_BASE_URL",
        ),
        # REDIS_URL as redis-py reads it: a bad port or host stops start-up with its name.
        ({"redis_url": "redis://localhost:abc/0"}, "REDIS_URL"),
        ({"redis_url": "redis://localhost:99999/0"}, "REDIS_URL"),
        ({"redis_url": "redis://[::1/0"}, "REDIS_URL"),
        (
            {"local_model": "openai:gpt-oss:20b-cloud", "local_base_url": "http://o:11434/v1"},
            "LOCAL_MODEL",
        ),
        ({"closed_model": "ollama:llama3"}, "CLOSED_MODEL"),
        ({"port": 70000}, "PORT"),
        ({"log_level": "chatty"}, "LOG_LEVEL"),
        ({"model_timeout_s": 0}, "MODEL_TIMEOUT_S"),
    ],
)
def test_bad_settings_name_their_variable(overrides: dict[str, object], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(_env_file=None, openai_api_key=None, anthropic_api_key=None, **overrides)


@pytest.mark.parametrize("name", ["ollama:llama3.2:3b", "ollama:cloudy-llama", "ollama:mycloud"])
def test_local_models_whose_names_merely_mention_cloud_are_accepted(name: str) -> None:
    assert load_settings(_env_file=None, local_model=name).local.provider == "ollama"


def test_an_unreadable_redis_url_is_refused_without_quoting_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, redis_url="redis://:Zm9v/YmFy#x@h:6379/0")
    message = str(caught.value)
    assert message.startswith("REDIS_URL: cannot be read")
    assert "Zm9v" not in message
    assert "YmFy" not in message


def test_confidential_channels_are_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIDENTIAL_CHANNELS", " #legal, #hr-* ,C0123,")
    assert Settings(_env_file=None).confidential_channels == ["#legal", "#hr-*", "C0123"]  # type: ignore[call-arg]


def test_ollama_defaults_to_its_standard_port() -> None:
    settings = Settings(_env_file=None, local_model="ollama:llama3.1")  # type: ignore[call-arg]
    assert settings.local_url == "http://localhost:11434"
