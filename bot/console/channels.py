"""The playground's channels: one of each kind Slack has, routed as Slack's would be. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from bot.routing.channel import ChannelFacts, ChannelKind
from bot.routing.policy import Policy

# The playground's memory and audit records carry this team ID, so they stay apart from every
# Slack workspace's; the console reads back only memory kept under it.
CONSOLE_TEAM = "T0CONSOLE"
CONSOLE_USER = "U0CONSOLE"


@dataclass(frozen=True)
class PlaygroundChannel:
    """A channel of the playground: its URL slug, how it is shown and its routing facts."""

    slug: str
    label: str
    about: str
    facts: ChannelFacts

    @property
    def icon(self) -> str:
        """The sidebar's mark for the channel's kind."""
        if self.facts.kind is ChannelKind.IM:
            return "@"
        if self.facts.kind is ChannelKind.PRIVATE:
            return "🔒"
        return "⇄" if self.facts.ext_shared else "#"


def _listed_name(policy: Policy) -> str | None:
    """The first channel the policy lists by a plain `#name` (no glob), if any."""
    for pattern in policy.confidential_channels:
        name = pattern[1:]
        if pattern.startswith("#") and name and not any(c in name for c in "*?[]"):
            return name.lower()
    return None


def playground_channels(policy: Policy) -> list[PlaygroundChannel]:
    """Public, private, DM and Slack Connect channels, and the first channel the policy
    lists as confidential by name (none when it lists channels only by ID or glob)."""
    channels = [
        PlaygroundChannel(
            "general",
            "#general",
            "public channel",
            ChannelFacts("C0CONSOLEGENERAL", ChannelKind.PUBLIC, name="general"),
        ),
        PlaygroundChannel(
            "support",
            "#support",
            "public channel: paste a customer email here",
            ChannelFacts("C0CONSOLESUPPORT", ChannelKind.PUBLIC, name="support"),
        ),
        PlaygroundChannel(
            "leadership",
            "leadership",
            "private channel",
            ChannelFacts("G0CONSOLELEADERS", ChannelKind.PRIVATE, name="leadership"),
        ),
        PlaygroundChannel(
            "dm",
            "hearthbot",
            "direct message with the bot",
            ChannelFacts("D0CONSOLEDM", ChannelKind.IM),
        ),
        PlaygroundChannel(
            "partners",
            "#acme-partners",
            "Slack Connect: shared with another organisation",
            ChannelFacts(
                "C0CONSOLEPARTNER", ChannelKind.PUBLIC, name="acme-partners", ext_shared=True
            ),
        ),
    ]
    listed = _listed_name(policy)
    if listed is not None and not any(c.facts.name == listed for c in channels):
        channels.append(
            PlaygroundChannel(
                "confidential",
                f"#{listed}",
                "public channel the policy lists as confidential",
                ChannelFacts("C0CONSOLELISTED", ChannelKind.PUBLIC, name=listed),
            )
        )
    return channels


def find_channel(channels: list[PlaygroundChannel], slug: str | None) -> PlaygroundChannel:
    """The channel with this slug; the first one when there is none."""
    return next((c for c in channels if c.slug == slug), channels[0])


def is_listed(policy: Policy, channel: PlaygroundChannel) -> bool:
    """True when the policy lists this channel as confidential."""
    return policy.lists_channel(channel.facts.channel_id, channel.facts.name)
