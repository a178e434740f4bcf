"""What hearthbot knows about the conversation a message was written in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ChannelKind(StrEnum):
    """The kind of Slack conversation, as far as it could be determined."""

    PUBLIC = "public"
    PRIVATE = "private"
    IM = "im"
    MPIM = "mpim"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ChannelFacts:
    """The facts about a conversation that routing depends on."""

    channel_id: str
    kind: ChannelKind
    name: str | None = None
    ext_shared: bool = False

    def to_json(self) -> dict[str, Any]:
        """A dict for the Redis cache."""
        return {
            "channel_id": self.channel_id,
            "kind": self.kind.value,
            "name": self.name,
            "ext_shared": self.ext_shared,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChannelFacts:
        """The inverse of `to_json`."""
        return cls(
            channel_id=str(data["channel_id"]),
            kind=ChannelKind(data["kind"]),
            name=data.get("name"),
            ext_shared=bool(data.get("ext_shared", False)),
        )


def facts_from_conversation(channel_id: str, info: dict[str, Any]) -> ChannelFacts:
    """Classify a `conversations.info` channel object.

    Slack's IM objects carry none of `is_private`, `is_channel` or `is_shared`, so every
    flag is read with care and anything unrecognised is UNKNOWN (which routes local).
    """
    shared = bool(info.get("is_ext_shared") or info.get("is_pending_ext_shared"))
    name = info.get("name") if isinstance(info.get("name"), str) else None
    if info.get("is_im") is True:
        kind = ChannelKind.IM
    elif info.get("is_mpim") is True:
        kind = ChannelKind.MPIM
    elif info.get("is_private") is True or info.get("is_group") is True:
        kind = ChannelKind.PRIVATE
    elif info.get("is_private") is False and info.get("is_channel") is True:
        kind = ChannelKind.PUBLIC
    else:
        kind = ChannelKind.UNKNOWN
    return ChannelFacts(channel_id=channel_id, kind=kind, name=name, ext_shared=shared)
