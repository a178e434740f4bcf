"""Parse the LOCAL_MODEL and CLOSED_MODEL strings into a provider and a model name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

Provider = Literal["embedded", "ollama", "openai", "anthropic"]

LOCAL_PROVIDERS = ("ollama", "openai")
CLOSED_PROVIDERS = ("openai", "anthropic")


@dataclass(frozen=True)
class ModelSpec:
    """A provider and the model name it serves."""

    provider: Provider
    name: str

    @property
    def label(self) -> str:
        """The short name users see in the context line under an answer."""
        return self.name.rsplit("/", 1)[-1]


def _split(value: str, variable: str, allowed: tuple[str, ...]) -> ModelSpec:
    provider, sep, name = value.strip().partition(":")
    if not sep or not name.strip() or provider not in allowed:
        choices = ", ".join(f"{p}:<model>" for p in allowed)
        raise ValueError(f"{variable} must be one of {choices}; got {value!r}")
    return ModelSpec(provider=provider, name=name.strip())  # type: ignore[arg-type]


def is_cloud_model(name: str) -> bool:
    """True for Ollama's cloud models (`gpt-oss:120b-cloud`, `kimi-k2:1t-cloud`,
    `deepseek-v3.1:cloud`): Ollama forwards those to its own servers. Pure."""
    tag = name.strip().lower().rsplit(":", 1)[-1]
    return tag == "cloud" or tag.endswith("-cloud")


# Ollama's hosted API (ollama.com, and any of its subdomains).
OLLAMA_CLOUD_HOST = "ollama.com"


def is_ollama_cloud(url: str) -> bool:
    """True when a server URL is Ollama's cloud, written with a scheme or, as Ollama's own
    clients accept it, without one (`ollama.com:443`). Pure."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url  # what the Ollama client does with a bare host
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    return host == OLLAMA_CLOUD_HOST or host.endswith("." + OLLAMA_CLOUD_HOST)


def parse_local_model(value: str) -> ModelSpec:
    """`embedded`, `ollama:<model>` or `openai:<model>` (any OpenAI-compatible server).

    A cloud model is refused: served through a local Ollama, it still runs in Ollama's
    cloud, and confidential text would leave the premises.
    """
    if value.strip() == "embedded":
        return ModelSpec(provider="embedded", name="smollm2-135m-instruct")
    spec = _split(value, "LOCAL_MODEL", LOCAL_PROVIDERS)
    if is_cloud_model(spec.name):
        raise ValueError(
            f"{spec.name!r} is one of Ollama's cloud models (its name ends in -cloud): it runs "
            "on Ollama's servers, not here; choose a model that runs on your own hardware"
        )
    return spec


def parse_closed_model(value: str) -> ModelSpec | None:
    """`openai:<model>`, `anthropic:<model>`, or `none`."""
    if value.strip().lower() in {"", "none"}:
        return None
    return _split(value, "CLOSED_MODEL", CLOSED_PROVIDERS)
