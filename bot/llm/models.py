"""Build LangChain chat models from the settings. Every client gets an explicit URL, key and
timeout, so none of them falls back to a provider's environment variables or servers; the
on-prem client is also built away from the environment altogether (see `isolation`)."""

from __future__ import annotations

import os

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from bot.llm.isolation import provider_environment_hidden
from bot.settings import Settings

# A self-hosted OpenAI-compatible server that wants no key still needs a non-empty one,
# or the OpenAI client would read OPENAI_API_KEY and send the closed provider's key to it.
NO_KEY = "not-needed"


def build_local_model(settings: Settings, base_url: str, api_key: str | None) -> BaseChatModel:
    """The self-hosted model. `base_url` is explicit: the embedded server's or LOCAL_BASE_URL.

    Built with the providers' and the HTTP stack's environment hidden and on HTTP clients that
    ignore the environment, so only hearthbot's own settings decide where confidential text
    travels (LOCAL_PROXY is the one way to put a proxy in front of it).
    """
    with provider_environment_hidden():
        return _build_local_model(settings, base_url, api_key)


def _build_local_model(settings: Settings, base_url: str, api_key: str | None) -> BaseChatModel:
    spec = settings.local
    proxy = settings.local_proxy
    # Always an Authorization header: without one the Ollama client adds OLLAMA_API_KEY.
    auth = f"Bearer {api_key or NO_KEY}"
    if spec.provider == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=spec.name,
            base_url=base_url,
            num_predict=settings.max_answer_tokens,
            client_kwargs={
                "timeout": settings.model_timeout_s,
                "headers": {"Authorization": auth},
                "trust_env": False,
                "proxy": proxy,
            },
        )
    import openai
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=spec.name,
        base_url=base_url,
        # The embedded 135M model wanders when it samples: greedy decoding gives it its best
        # (and the same) answer every time. Other servers keep their own defaults.
        temperature=0.0 if spec.provider == "embedded" else None,
        api_key=SecretStr(api_key or NO_KEY),
        organization=None,
        openai_proxy=None,
        timeout=settings.model_timeout_s,
        max_retries=1,
        max_completion_tokens=settings.max_answer_tokens,
        # Token counts for the audit trail (llama.cpp, vLLM and Ollama's /v1 all send them).
        stream_usage=True,
        http_client=openai.DefaultHttpxClient(trust_env=False, proxy=proxy),
        http_async_client=openai.DefaultAsyncHttpxClient(trust_env=False, proxy=proxy),
    )


def build_closed_model(settings: Settings) -> BaseChatModel | None:
    """The closed API model, or None when CLOSED_MODEL is `none`."""
    spec = settings.closed
    if spec is None:
        return None
    if spec.provider == "anthropic":
        from langchain_anthropic import ChatAnthropic

        if settings.anthropic_api_key is None:  # guarded by Settings
            raise ValueError("ANTHROPIC_API_KEY: required when CLOSED_MODEL is anthropic:<model>")
        return ChatAnthropic(  # type: ignore[call-arg]
            model=spec.name,
            api_key=settings.anthropic_api_key,
            base_url=settings.anthropic_base_url,
            timeout=settings.model_timeout_s,
            max_retries=1,
            max_tokens=settings.max_answer_tokens,
        )
    import openai
    from langchain_openai import ChatOpenAI

    proxy = os.environ.get("OPENAI_PROXY") or None
    return ChatOpenAI(
        model=spec.name,
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        timeout=settings.model_timeout_s,
        max_retries=1,
        max_completion_tokens=settings.max_answer_tokens,
        stream_usage=True,
        # Clients of its own: langchain-openai otherwise shares one cached httpx client per
        # URL across the process, bound to the first event loop that used it. OPENAI_PROXY,
        # which langchain-openai honours for the closed API, is handed to them.
        openai_proxy=None,
        http_client=openai.DefaultHttpxClient(proxy=proxy),
        http_async_client=openai.DefaultAsyncHttpxClient(proxy=proxy),
    )
