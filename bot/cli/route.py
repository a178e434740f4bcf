"""`hearthbot route`: the routing decision for a text, with its reasons, and no model call."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from bot.app import build_classifier
from bot.routing.channel import ChannelFacts, ChannelKind
from bot.routing.decision import Route
from bot.routing.report import explain as explain_route
from bot.settings import Settings


async def channel_facts(settings: Settings, args: argparse.Namespace) -> ChannelFacts:
    """The channel as given on the command line, or as Slack describes it."""
    channel = str(args.channel)
    name = channel[1:] if channel.startswith("#") else None
    channel_id = channel if name is None else f"#{name}"
    if args.kind is not None:
        return ChannelFacts(channel_id, ChannelKind(args.kind), name=name, ext_shared=args.shared)
    if name is None and settings.slack_bot_token is not None:
        from slack_sdk.errors import SlackApiError
        from slack_sdk.web.async_client import AsyncWebClient

        from bot.routing.channel import facts_from_conversation

        client = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
        )
        try:
            response = await client.conversations_info(channel=channel_id)
        except SlackApiError as exc:
            print(f"conversations.info failed ({exc.response.get('error')}): kind unknown")
            return ChannelFacts(channel_id, ChannelKind.UNKNOWN, ext_shared=args.shared)
        facts = facts_from_conversation(channel_id, response.get("channel") or {})
        if args.shared:
            return ChannelFacts(facts.channel_id, facts.kind, facts.name, ext_shared=True)
        return facts
    return ChannelFacts(channel_id, ChannelKind.PUBLIC, name=name, ext_shared=args.shared)


async def explain(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Print the decision, its reasons and the sensitive spans found (redacted)."""
    classifier = build_classifier(settings)
    facts = await channel_facts(settings, args)
    report = explain_route(classifier, facts, args.text, force_local=args.local, sticky=args.sticky)
    decision, findings = report.decision, report.scanned.findings
    if args.json:
        payload = {
            **decision.as_log(),
            "channel": {
                "id": facts.channel_id,
                "name": facts.name,
                "kind": facts.kind.value,
                "shared": facts.ext_shared,
            },
            "findings": [
                {"category": f.category, "kind": f.kind, "start": f.start, "end": f.end}
                for f in findings
            ],
            "redacted": classifier.detector.redact(args.text),
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2), file=out)
        return 0
    where = "on-prem" if decision.route is Route.LOCAL else "closed API"
    print(f"route:   {decision.route.value} ({where}) · model {decision.model}", file=out)
    print(
        f"channel: {facts.channel_id} ({facts.kind.value}{', shared' if facts.ext_shared else ''})",
        file=out,
    )
    print("reasons:", file=out)
    for reason, words in report.reasons:
        print(f"  - {reason}: {words}", file=out)
    if findings:
        print("found:", file=out)
        for f in findings:
            print(f"  - {f.category} ({f.kind}) at characters {f.start}-{f.end}", file=out)
    print(f"text as logged at DEBUG: {classifier.detector.redact(args.text)}", file=out)
    return 0
