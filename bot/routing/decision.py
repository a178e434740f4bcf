"""The route decision: pure data that the router, the reply footer and the logs all read."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Route(StrEnum):
    """Where an answer is computed."""

    LOCAL = "local"
    CLOSED = "closed"


class Reason(StrEnum):
    """Why a request was routed where it was. Values appear in logs and the audit trail."""

    LISTED_CHANNEL = "listed_channel"
    DIRECT_MESSAGE = "direct_message"
    GROUP_DIRECT_MESSAGE = "group_direct_message"
    PRIVATE_CHANNEL = "private_channel"
    SHARED_CHANNEL = "shared_channel"
    UNKNOWN_CHANNEL = "unknown_channel"
    USER_FORCED_LOCAL = "user_forced_local"
    NO_CLOSED_MODEL = "no_closed_model"
    PUBLIC_CHANNEL = "public_channel"


REASON_TEXT: dict[Reason, str] = {
    Reason.LISTED_CHANNEL: "confidential channel",
    Reason.DIRECT_MESSAGE: "direct message",
    Reason.GROUP_DIRECT_MESSAGE: "group DM",
    Reason.PRIVATE_CHANNEL: "private channel",
    Reason.SHARED_CHANNEL: "shared channel",
    Reason.UNKNOWN_CHANNEL: "channel type unknown",
    Reason.USER_FORCED_LOCAL: "asked for on-prem",
    Reason.NO_CLOSED_MODEL: "no cloud model configured",
    Reason.PUBLIC_CHANNEL: "public channel",
}


@dataclass(frozen=True)
class RouteDecision:
    """Where a request goes, which model answers it, and why."""

    route: Route
    model: str
    reasons: tuple[Reason, ...]

    def reason_text(self) -> str:
        """The reasons as words for the context line under an answer."""
        return ", ".join(REASON_TEXT[r] for r in self.reasons)

    def as_log(self) -> dict[str, object]:
        """Fields for a structured log line; never message text."""
        return {
            "route": self.route.value,
            "model": self.model,
            "reasons": [r.value for r in self.reasons],
        }
