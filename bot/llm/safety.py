"""Switch off LangChain features that would send prompts off the premises.

LangSmith tracing uploads every prompt and answer when LANGSMITH_TRACING (or the older
LANGCHAIN_TRACING_V2) is set, and LANGSMITH_GATEWAY re-routes model clients that were given
no explicit URL through LangSmith's proxy. Either would defeat the routing promise, so
hearthbot turns them off for its own process, whatever the environment says, unless the
operator acknowledges in so many words that confidential prompts will be uploaded
(LANGSMITH_UPLOADS_ACKNOWLEDGED set to ACKNOWLEDGEMENT, e.g. for a self-hosted LangSmith).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)

UPLOADING_SWITCHES = (
    "LANGSMITH_TRACING",
    "LANGSMITH_TRACING_V2",
    "LANGCHAIN_TRACING",
    "LANGCHAIN_TRACING_V2",
    "LANGSMITH_GATEWAY",
)
_OFF = {"", "false", "0", "no", "off"}


ACKNOWLEDGEMENT_VARIABLE = "LANGSMITH_UPLOADS_ACKNOWLEDGED"
# The exact value that acknowledges it: nothing short of this sentence turns uploads on.
ACKNOWLEDGEMENT = "confidential-prompts-leave-the-premises"


def uploads_acknowledged(environ: Mapping[str, str]) -> bool:
    """True only when the operator has written the acknowledgement itself. Pure."""
    return environ.get(ACKNOWLEDGEMENT_VARIABLE, "").strip() == ACKNOWLEDGEMENT


def switches_on(environ: Mapping[str, str]) -> list[str]:
    """The uploading switches the environment turns on. Pure."""
    return [n for n in UPLOADING_SWITCHES if environ.get(n, "").lower() not in _OFF]


def disable_prompt_uploads() -> list[str]:
    """Force every switch off, unless acknowledged; return the names of those that had been
    on (and were switched off)."""
    if uploads_acknowledged(os.environ):
        log.warning(
            "LangSmith uploads acknowledged: every prompt, confidential ones included, is "
            "sent to LangSmith",
            extra={"variables": switches_on(os.environ)},
        )
        return []
    switched_off = switches_on(os.environ)
    for name in UPLOADING_SWITCHES:
        os.environ[name] = "false"
    if switched_off:
        log.warning(
            "switched off LangChain settings that upload or re-route prompts",
            extra={"variables": switched_off},
        )
    return switched_off
