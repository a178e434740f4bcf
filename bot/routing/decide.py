"""The routing decision as a pure function of the policy, the conversation's facts and what
the detector found in the text."""

from __future__ import annotations

from collections.abc import Iterable

from bot.routing.channel import ChannelFacts, ChannelKind
from bot.routing.decision import Reason, Route, RouteDecision, sensitive_reason
from bot.routing.policy import Policy


def confidential_reasons(policy: Policy, facts: ChannelFacts) -> tuple[str, ...]:
    """Every reason the policy gives for keeping this conversation on-prem."""
    rules = policy.builtin
    reasons: list[str] = []
    if policy.lists_channel(facts.channel_id, facts.name):
        reasons.append(Reason.LISTED_CHANNEL)
    elif (
        policy.lists_names
        and facts.name is None
        and facts.kind not in (ChannelKind.IM, ChannelKind.MPIM)
    ):
        # A `#name` rule must not become less strict because the name could not be looked
        # up: a channel whose name is unknown may be a listed one.
        reasons.append(Reason.CHANNEL_NAME_UNKNOWN)
    if rules.direct_messages and facts.kind is ChannelKind.IM:
        reasons.append(Reason.DIRECT_MESSAGE)
    if rules.direct_messages and facts.kind is ChannelKind.MPIM:
        reasons.append(Reason.GROUP_DIRECT_MESSAGE)
    if rules.private_channels and facts.kind is ChannelKind.PRIVATE:
        reasons.append(Reason.PRIVATE_CHANNEL)
    if rules.shared_channels and facts.ext_shared:
        reasons.append(Reason.SHARED_CHANNEL)
    if rules.unknown_channels and facts.kind is ChannelKind.UNKNOWN:
        reasons.append(Reason.UNKNOWN_CHANNEL)
    return tuple(reasons)


def decide(
    policy: Policy,
    facts: ChannelFacts,
    *,
    local_model: str,
    closed_model: str | None,
    force_local: bool = False,
    sensitive: Iterable[str] = (),
    sticky: bool = False,
    uncertain_input: bool = False,
    thread_unreadable: bool = False,
) -> RouteDecision:
    """Route to the closed API only when nothing marks the request confidential.

    Nothing in the message text can move a request toward the closed API: the only user
    input read here is `force_local`, what the detector found, and whether a file or the
    thread could be read with confidence, all of which can only move it the other way.
    """
    reasons = list(confidential_reasons(policy, facts))
    reasons.extend(sensitive_reason(c) for c in sorted(set(sensitive)))
    if sticky:
        reasons.append(Reason.STICKY_THREAD)
    if uncertain_input:
        reasons.append(Reason.UNCERTAIN_INPUT)
    if thread_unreadable:
        reasons.append(Reason.THREAD_UNREADABLE)
    if force_local:
        reasons.append(Reason.USER_FORCED_LOCAL)
    if reasons:
        return RouteDecision(Route.LOCAL, local_model, tuple(reasons))
    if closed_model is None:
        return RouteDecision(Route.LOCAL, local_model, (Reason.NO_CLOSED_MODEL,))
    return RouteDecision(Route.CLOSED, closed_model, (Reason.PUBLIC_CHANNEL,))
