"""The policy in words, and a tester: a text and a channel in, the decision and the sensitive
spans out, without calling a model (the same code as `hearthbot route`)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.console.channels import find_channel, is_listed, playground_channels
from bot.console.guard import read_form
from bot.console.rendering import render, services_of
from bot.doctor import describe_policy
from bot.routing.decision import SENSITIVE_TEXT, describe_categories
from bot.routing.report import RouteReport, explain
from bot.routing.sensitive import Category

MAX_TEST_CHARS = 40_000


async def page(request: web.Request) -> web.Response:
    """GET shows the policy and an empty tester; POST runs the tester."""
    services = services_of(request)
    classifier = services.classifier
    policy = classifier.policy
    channels = playground_channels(policy)
    report: RouteReport | None = None
    text, chosen, force_local, error = "", channels[0], False, None
    if request.method == "POST":
        form = await read_form(request)
        text = str(form.get("text") or "")
        chosen = find_channel(channels, str(form.get("channel") or ""))
        force_local = form.get("local") == "on"
        if not text.strip():
            error = "Paste a text to test."
        elif len(text) > MAX_TEST_CHARS:
            error = f"At most {MAX_TEST_CHARS:,} characters, as in a Slack message."
        else:
            report = await asyncio.to_thread(
                explain, classifier, chosen.facts, text, force_local=force_local
            )
    config = policy.sensitive.detector_config()
    settings = services.settings
    closed = settings.closed
    return render(
        request,
        "policy.html",
        status=400 if error else 200,
        summary=describe_policy(policy),
        builtin=policy.builtin,
        listed_channels=policy.confidential_channels,
        categories=[
            (c.value, SENSITIVE_TEXT.get(c.value, c.value), c in config.categories)
            for c in Category
        ],
        detected=describe_categories(sorted(c.value for c in config.categories)),
        custom=[(rule.name, rule.pattern) for rule in policy.sensitive.custom_patterns],
        local_model=settings.local.label,
        closed_model=closed.label if closed else None,
        channels=[{"channel": c, "listed": is_listed(policy, c)} for c in channels],
        chosen=chosen,
        text=text,
        force_local=force_local,
        report=report,
        error=error,
    )


def add_routes(app: web.Application) -> None:
    """GET and POST /policy."""
    app.router.add_get("/policy", page)
    app.router.add_post("/policy", page)
