"""Switch off LangChain features that would send prompts off the premises.

LangSmith tracing uploads every prompt and answer when LANGSMITH_TRACING (or the older
LANGCHAIN_TRACING_V2) is set, and LANGSMITH_GATEWAY re-routes model clients that were given
no explicit URL through LangSmith's proxy. Either would defeat the routing promise, so
hearthbot turns them off for its own process, whatever the environment says.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

UPLOADING_SWITCHES = (
    "LANGSMITH_TRACING",
    "LANGSMITH_TRACING_V2",
    "LANGCHAIN_TRACING",
    "LANGCHAIN_TRACING_V2",
    "LANGSMITH_GATEWAY",
)


def disable_prompt_uploads() -> list[str]:
    """Force every switch off; return the names of those that had been on."""
    switched_off = []
    for name in UPLOADING_SWITCHES:
        value = os.environ.get(name, "")
        if value and value.lower() not in {"false", "0", "no", "off"}:
            switched_off.append(name)
        os.environ[name] = "false"
    if switched_off:
        log.warning(
            "switched off LangChain settings that upload or re-route prompts",
            extra={"variables": switched_off},
        )
    return switched_off
