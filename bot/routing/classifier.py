"""The classifier step of the router: the policy, the detector and the model names put
together. Pure: everything it reads is in the request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.routing.channel import ChannelFacts
from bot.routing.decide import decide
from bot.routing.decision import RouteDecision
from bot.routing.policy import Policy
from bot.routing.sensitive import SensitiveDetector


@dataclass(frozen=True)
class RouteRequest:
    """Everything a routing decision depends on."""

    facts: ChannelFacts
    # Every text that would be sent to a model (the question, the thread, the memory)...
    texts: Sequence[str]
    # ...but for those scanned before: the categories found in them.
    known: frozenset[str] = frozenset()
    force_local: bool = False
    # The conversation was confidential before.
    sticky: bool = False
    # Some input could not be decoded with confidence (the detector cannot vouch for it).
    uncertain_input: bool = False
    # The Slack thread could not be read whole (its on-prem marks are unknown).
    thread_unreadable: bool = False


class Classifier:
    """Decides the route of a request."""

    def __init__(
        self,
        policy: Policy,
        detector: SensitiveDetector,
        *,
        local_model: str,
        closed_model: str | None,
    ) -> None:
        self.policy = policy
        self.detector = detector
        self._local_model = local_model
        self._closed_model = closed_model

    def classify(self, request: RouteRequest) -> RouteDecision:
        """Scan every text, then apply the policy."""
        return decide(
            self.policy,
            request.facts,
            local_model=self._local_model,
            closed_model=self._closed_model,
            force_local=request.force_local,
            sensitive=request.known | self.detector.categories(request.texts),
            sticky=request.sticky,
            uncertain_input=request.uncertain_input,
            thread_unreadable=request.thread_unreadable,
        )
