"""The app's Home tab and its Messages tab (the agent view).

- Home tab (`app_home_opened`, `tab == "home"`): what hearthbot is, how routing works in
  this workspace (from the live policy), the person's own recent requests with their routes
  (from the audit stream: never text), and the feedback totals.
- Messages tab (`tab == "messages"`, the agent view that replaces the assistant panel):
  suggested prompts (`assistant.threads.setSuggestedPrompts`, without a thread there). The
  questions written there are direct messages, answered like any DM (on-prem by default).
- The older assistant panel (`assistant_thread_started`) gets the same prompts, per thread.
Both are courtesies: whatever Slack refuses is logged, never raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.audit import AuditLog, AuditRecord, satisfaction
from bot.routing.decision import REASON_TEXT, Reason, describe_categories, describe_reason
from bot.routing.policy import Policy
from bot.slack.web_clients import SLACK_FAILURES, slack_error

log = logging.getLogger(__name__)

PROMPTS_TITLE = "Try asking"
# Slack shows up to four suggested prompts.
SUGGESTED_PROMPTS = (
    {"title": "What can you do?", "message": "help"},
    {
        "title": "Summarise a customer email",
        "message": "How do I get a summary and a reply draft for a customer email?",
    },
    {
        "title": "Ask privately (on-prem only)",
        "message": "--local What stays on our own hardware when I ask you something here?",
    },
    {
        "title": "Where do my questions go?",
        "message": "Which of my questions are answered by the cloud model, and which on-prem?",
    },
)
# How many audit records are read for a Home tab, and how many of the person's are shown.
AUDIT_SCAN = 2000
RECENT_SHOWN = 10
TITLE_CHARS = 60


@dataclass(frozen=True)
class HomeFacts:
    """What the Home tab says about this installation."""

    policy: Policy
    categories: frozenset[str]
    local_model: str
    closed_model: str | None


def routing_lines(facts: HomeFacts) -> list[str]:
    """How routing works here, in words, from the live policy."""
    policy, builtin = facts.policy, facts.policy.builtin
    kept = [
        REASON_TEXT[reason] + "s"
        for reason, on in (
            (Reason.DIRECT_MESSAGE, builtin.direct_messages),
            (Reason.PRIVATE_CHANNEL, builtin.private_channels),
            (Reason.SHARED_CHANNEL, builtin.shared_channels),
        )
        if on
    ]
    if builtin.unknown_channels:
        kept.append("channels whose type cannot be read")
    listed = ", ".join(f"`{p}`" for p in policy.confidential_channels) or "none"
    custom = [f"{rule.name} (custom)" for rule in policy.sensitive.custom_patterns]
    detected = ", ".join([describe_categories(sorted(facts.categories)), *custom]) or "nothing"
    cloud = (
        f"Everything else is answered by *{facts.closed_model}* (a cloud model)."
        if facts.closed_model
        else "No cloud model is configured: every question is answered on-prem."
    )
    return [
        f"🔒 Answered on-prem by *{facts.local_model}*, never sent anywhere else: "
        + ", ".join([*kept, "threads that already hold an on-prem answer"])
        + ".",
        f"🔒 Confidential channels listed by the admins: {listed}.",
        f"🔎 Messages holding any of these stay on-prem too: {detected}.",
        f"☁️ {cloud}",
        "If the on-prem model is down, confidential questions are refused, never sent to the "
        "cloud.",
    ]


def _when(stamp: float) -> str:
    return time.strftime("%d %b %H:%M", time.gmtime(stamp)) + " UTC"


def recent_lines(records: Sequence[AuditRecord], user_id: str) -> list[str]:
    """The person's own latest requests: when, where they went, why, how they ended."""
    mine = [r for r in records if r.user == user_id and r.kind == "request"][-RECENT_SHOWN:]
    lines = []
    for r in reversed(mine):
        where = "🔒 on-prem" if r.route == "local" else "☁️ cloud" if r.route == "closed" else "—"
        why = ", ".join(describe_reason(reason) for reason in r.reasons[:3])
        lines.append(
            f"{_when(r.time)} · {where} · {r.answered_by or r.model} · {r.outcome} · {why}"
        )
    return lines


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def home_view(facts: HomeFacts, records: Sequence[AuditRecord], user_id: str) -> dict[str, Any]:
    """The Home tab for one person."""
    recent = recent_lines(records, user_id)
    feedback = satisfaction(records)
    feedback_lines = [
        f"{key}: {v['good']} 👍 · {v['bad']} 👎 ({v['satisfaction']:.0%} helpful)"
        for key, v in feedback.items()
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "hearthbot"}},
        _section(
            "Ask questions with `/ask`, by mentioning me in a thread, or here in Messages. "
            "Confidential conversations are answered by a model on our own hardware; "
            "the line under every answer says where it was computed."
        ),
        {"type": "divider"},
        _section("*How routing works in this workspace*\n" + "\n".join(routing_lines(facts))),
        {"type": "divider"},
        _section(
            "*Your recent requests* (what was said is never stored here)\n"
            + ("\n".join(recent) if recent else "None yet.")
        ),
        _section(
            "*Feedback on answers*\n"
            + ("\n".join(feedback_lines) if feedback_lines else "No feedback yet.")
        ),
    ]
    return {"type": "home", "blocks": blocks}


async def suggest_prompts(web: AsyncWebClient, channel: str, thread_ts: str | None = None) -> None:
    """Suggested prompts in the Messages tab (no thread) or an assistant thread."""
    try:
        await web.assistant_threads_setSuggestedPrompts(
            channel_id=channel,
            thread_ts=thread_ts,
            title=PROMPTS_TITLE,
            prompts=list(SUGGESTED_PROMPTS),
        )
    except SLACK_FAILURES as exc:
        log.info("suggested prompts not set", extra={"error": slack_error(exc)})


async def set_title(web: AsyncWebClient, channel: str, thread_ts: str, question: str) -> None:
    """The title of a Messages-tab thread: the start of its first question."""
    title = " ".join(question.split())[:TITLE_CHARS] or "New question"
    try:
        await web.assistant_threads_setTitle(channel_id=channel, thread_ts=thread_ts, title=title)
    except SLACK_FAILURES as exc:
        log.debug("thread title not set", extra={"error": slack_error(exc)})


def register(app: AsyncApp, facts: HomeFacts, audit: AuditLog) -> None:
    """Handle `app_home_opened` (Home and Messages tabs) and `assistant_thread_started`."""

    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = str(event.get("user", ""))
        if event.get("tab") == "messages":
            await suggest_prompts(client, str(event.get("channel", "")))
            return
        if event.get("tab") != "home" or not user_id:
            return
        try:
            records = await audit.tail(AUDIT_SCAN)
        except (RedisError, OSError, TimeoutError):
            log.warning("audit stream unavailable; Home tab shown without history")
            records = []
        try:
            await client.views_publish(user_id=user_id, view=home_view(facts, records, user_id))
        except SLACK_FAILURES as exc:
            log.warning("Home tab not published", extra={"error": slack_error(exc)})

    @app.event("assistant_thread_started")
    async def on_thread_started(event: dict[str, Any], client: AsyncWebClient) -> None:
        thread = event.get("assistant_thread") or {}
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        if channel and thread_ts:
            await suggest_prompts(client, str(channel), str(thread_ts))
