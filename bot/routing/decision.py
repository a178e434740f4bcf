"""The route decision: pure data that the router, the reply footer, the logs and the audit
trail all read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Route(StrEnum):
    """Where an answer is computed."""

    LOCAL = "local"
    CLOSED = "closed"


class Reason(StrEnum):
    """Why a request was routed where it was. Values appear in logs and the audit trail;
    content findings add reasons of the form `sensitive:<category>`."""

    LISTED_CHANNEL = "listed_channel"
    CHANNEL_NAME_UNKNOWN = "channel_name_unknown"
    DIRECT_MESSAGE = "direct_message"
    GROUP_DIRECT_MESSAGE = "group_direct_message"
    PRIVATE_CHANNEL = "private_channel"
    SHARED_CHANNEL = "shared_channel"
    UNKNOWN_CHANNEL = "unknown_channel"
    STICKY_THREAD = "sticky_thread"
    UNCERTAIN_INPUT = "uncertain_input"
    THREAD_UNREADABLE = "thread_unreadable"
    USER_FORCED_LOCAL = "user_forced_local"
    NO_CLOSED_MODEL = "no_closed_model"
    PUBLIC_CHANNEL = "public_channel"


SENSITIVE_PREFIX = "sensitive:"

REASON_TEXT: dict[str, str] = {
    Reason.LISTED_CHANNEL: "confidential channel",
    Reason.CHANNEL_NAME_UNKNOWN: "channel name unknown",
    Reason.DIRECT_MESSAGE: "direct message",
    Reason.GROUP_DIRECT_MESSAGE: "group DM",
    Reason.PRIVATE_CHANNEL: "private channel",
    Reason.SHARED_CHANNEL: "shared channel",
    Reason.UNKNOWN_CHANNEL: "channel type unknown",
    Reason.STICKY_THREAD: "confidential thread",
    Reason.UNCERTAIN_INPUT: "file encoding uncertain",
    Reason.THREAD_UNREADABLE: "thread could not be read",
    Reason.USER_FORCED_LOCAL: "asked for on-prem",
    Reason.NO_CLOSED_MODEL: "no cloud model configured",
    Reason.PUBLIC_CHANNEL: "public channel",
}

SENSITIVE_TEXT: dict[str, str] = {
    "email": "email address",
    "phone": "phone number",
    "credit_card": "card number",
    "iban": "IBAN",
    "national_id": "national ID",
    "ip_address": "IP address",
    "street_address": "street address",
    "date_of_birth": "date of birth",
    "secret": "secret or key",
    "person_name": "person's name",
}


def sensitive_reason(category: str) -> str:
    """The route reason for sensitive content of a category, e.g. `sensitive:credit_card`."""
    return f"{SENSITIVE_PREFIX}{category}"


def describe_categories(categories: Iterable[str]) -> str:
    """Sensitive categories in words, e.g. `card number, IBAN`."""
    words = [
        c.removeprefix("custom:") if c.startswith("custom:") else SENSITIVE_TEXT.get(c, c)
        for c in categories
    ]
    return ", ".join(dict.fromkeys(words))


def describe_reason(reason: str) -> str:
    """A reason in words, for the context line under an answer."""
    if reason.startswith(SENSITIVE_PREFIX):
        category = reason.removeprefix(SENSITIVE_PREFIX)
        if category.startswith("custom:"):
            return f"{category.removeprefix('custom:')} mentioned"
        return f"{SENSITIVE_TEXT.get(category, category)} in message"
    return REASON_TEXT.get(reason, reason)


# Reasons that make a conversation confidential from then on (see `RouteDecision.confidential`).
_NOT_CONFIDENTIAL = frozenset({Reason.NO_CLOSED_MODEL, Reason.PUBLIC_CHANNEL})


@dataclass(frozen=True)
class RouteDecision:
    """Where a request goes, which model answers it, and why."""

    route: Route
    model: str
    reasons: tuple[str, ...]

    @property
    def confidential(self) -> bool:
        """True when the request had to stay on-prem (not merely because no cloud model exists)."""
        return any(r not in _NOT_CONFIDENTIAL for r in self.reasons)

    def reason_text(self) -> str:
        """The reasons as words for the context line under an answer."""
        return ", ".join(describe_reason(r) for r in self.reasons)

    def as_log(self) -> dict[str, object]:
        """Fields for a structured log line; never message text."""
        return {"route": self.route.value, "model": self.model, "reasons": list(self.reasons)}
