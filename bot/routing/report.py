"""A routing decision explained: the decision, its reasons in words, and where the sensitive
data is in the text. No model is called. Shared by `hearthbot route` and the console's policy
tester, so both show exactly what the router would decide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.routing.channel import ChannelFacts
from bot.routing.classifier import Classifier, RouteRequest
from bot.routing.decision import RouteDecision, describe_reason
from bot.routing.sensitive.detector import Finding
from bot.routing.sensitive.normalize import normalize


@dataclass(frozen=True)
class Segment:
    """A run of scanned text, and the category of sensitive data it is (None: not sensitive)."""

    text: str
    category: str | None = None
    # Other categories found overlapping this run (it is shown in the first one's colour).
    also: tuple[str, ...] = ()


def segments(clean: str, findings: list[Finding]) -> list[Segment]:
    """`clean` cut into runs, each finding one highlighted run. Overlapping findings merge
    into the first one's category, as `replace_spans` merges them in the logs. Pure."""
    merged: list[tuple[int, int, list[str]]] = []
    for f in sorted(findings):
        if merged and f.start < merged[-1][1]:
            start, end, categories = merged[-1]
            if f.category not in categories:
                categories.append(f.category)
            merged[-1] = (start, max(end, f.end), categories)
        elif f.end > f.start:
            merged.append((f.start, f.end, [f.category]))
    out: list[Segment] = []
    position = 0
    for start, end, categories in merged:
        if start > position:
            out.append(Segment(clean[position:start]))
        out.append(Segment(clean[start:end], categories[0], tuple(categories[1:])))
        position = end
    if position < len(clean):
        out.append(Segment(clean[position:]))
    return out


@dataclass(frozen=True)
class ScannedText:
    """One text as the detector saw it (normalised), with its findings."""

    label: str
    clean: str
    findings: tuple[Finding, ...]

    @property
    def segments(self) -> list[Segment]:
        """The text cut into plain and highlighted runs."""
        return segments(self.clean, list(self.findings))

    def as_json(self) -> dict[str, Any]:
        """For the console: the runs, with the category of each highlighted one."""
        return {
            "label": self.label,
            "segments": [
                {"text": s.text, "category": s.category, "also": list(s.also)}
                for s in self.segments
            ],
        }


def scan(classifier: Classifier, label: str, text: str) -> ScannedText:
    """`text` normalised as the detector scans it, and what it found there."""
    clean = normalize(text)
    return ScannedText(label, clean, tuple(classifier.detector.findings(text)))


@dataclass(frozen=True)
class RouteReport:
    """What the router would decide for a text in a channel, and why."""

    facts: ChannelFacts
    decision: RouteDecision
    scanned: ScannedText

    @property
    def reasons(self) -> list[tuple[str, str]]:
        """(reason, the reason in words), in the decision's order."""
        return [(r, describe_reason(r)) for r in self.decision.reasons]


def explain(
    classifier: Classifier,
    facts: ChannelFacts,
    text: str,
    *,
    force_local: bool = False,
    sticky: bool = False,
) -> RouteReport:
    """The decision for `text` written in the channel `facts` describes. CPU only."""
    decision = classifier.classify(
        RouteRequest(facts=facts, texts=[text], force_local=force_local, sticky=sticky)
    )
    return RouteReport(facts, decision, scan(classifier, "text", text))
