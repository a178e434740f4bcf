"""Keep the environment of the closed providers and of the HTTP stack away from the on-prem
model client.

The client libraries read a surprising amount of the process environment when they are
built: the OpenAI SDK reads `OPENAI_BASE_URL`, `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID`,
`OPENAI_CUSTOM_HEADERS` and `OPENAI_ADMIN_KEY` whenever the value passed is empty;
langchain-openai reads `OPENAI_PROXY` and `OPENAI_API_BASE`; the Ollama client reads
`OLLAMA_HOST` and `OLLAMA_API_KEY`; and httpx, under both, routes through `HTTP(S)_PROXY` /
`ALL_PROXY` (and reads `.netrc`, `SSL_CERT_FILE`) unless told not to trust the environment.
An operator who sets any of these for the cloud provider would, without this module, send
confidential text through a proxy or to a host that was never meant to see it.

So the on-prem client is built (1) while those variables are hidden, so nothing is read at
construction, and (2) on an HTTP client with `trust_env=False`, so nothing is read at request
time either. Its only proxy is hearthbot's own `LOCAL_PROXY`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

# Prefixes of the variables the model SDKs read, and the HTTP stack's own.
PROVIDER_PREFIXES = ("OPENAI_", "AZURE_OPENAI_", "ANTHROPIC_", "OLLAMA_")
HTTP_STACK_VARIABLES = frozenset(
    {
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "WS_PROXY",
        "WSS_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NETRC",
    }
)


def is_isolated_variable(name: str) -> bool:
    """True for a variable that must not shape the on-prem client (any letter case)."""
    upper = name.upper()
    return upper in HTTP_STACK_VARIABLES or upper.startswith(PROVIDER_PREFIXES)


@contextmanager
def provider_environment_hidden() -> Iterator[list[str]]:
    """Hide the provider and HTTP-stack variables while the block runs; yield their names.

    Call it only around synchronous construction code in the composition root (no `await`
    inside): the environment is process-wide, and nothing else may run meanwhile.
    """
    hidden = {name: value for name, value in os.environ.items() if is_isolated_variable(name)}
    for name in hidden:
        del os.environ[name]
    try:
        yield sorted(hidden)
    finally:
        os.environ.update(hidden)
