"""The 👍 / 👎 buttons under every answer, and what a click records.

Each button's value carries what the audit record needs (route, reasons, model, channel
kind), never the text: a click is recorded without reading the message. Values come back
inside Slack's signed request, and are still checked before they are recorded.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Answer
from bot.audit import AuditLog, AuditRecord
from bot.slack.web_clients import SLACK_FAILURES, slack_error

log = logging.getLogger(__name__)

ACTION_ID = "hearthbot_feedback"
GOOD, BAD = "good", "bad"
# Slack: a button's value holds at most 2,000 characters, its text 75.
VALUE_CHARS = 2000
THANKS_TEXT = "Thanks, your feedback was recorded (without the message text)."


class FeedbackValue(BaseModel):
    """What a feedback button's value holds."""

    model_config = ConfigDict(extra="forbid")

    vote: str = Field(pattern=f"^({GOOD}|{BAD})$")
    route: str = Field(max_length=20)
    model: str = Field(max_length=200)
    reasons: list[str] = Field(max_length=50)
    kind: str = Field(max_length=40)


def _value(vote: str, answer: Answer, kind: str) -> str:
    reasons = list(answer.decision.reasons)
    while True:
        value = FeedbackValue(
            vote=vote,
            route=answer.decision.route.value,
            model=(answer.answered_by or answer.decision.model)[:200],
            reasons=[r[:100] for r in reasons[:50]],
            kind=kind,
        ).model_dump_json()
        if len(value) <= VALUE_CHARS or not reasons:
            return value
        reasons.pop()


def feedback_block(answer: Answer, channel_kind: str) -> dict[str, Any]:
    """The `context_actions` block with Slack's feedback buttons, for under an answer."""
    return {
        "type": "context_actions",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": ACTION_ID,
                "positive_button": {
                    "text": {"type": "plain_text", "text": "Good answer"},
                    "accessibility_label": "This answer was helpful",
                    "value": _value(GOOD, answer, channel_kind),
                },
                "negative_button": {
                    "text": {"type": "plain_text", "text": "Bad answer"},
                    "accessibility_label": "This answer was not helpful",
                    "value": _value(BAD, answer, channel_kind),
                },
            }
        ],
    }


def parse_click(body: dict[str, Any]) -> FeedbackValue | None:
    """The feedback a `block_actions` click carries, or None when it is not valid."""
    for action in body.get("actions") or []:
        if isinstance(action, dict) and action.get("action_id") == ACTION_ID:
            try:
                return FeedbackValue.model_validate(json.loads(str(action.get("value"))))
            except (ValueError, ValidationError):
                return None
    return None


def click_record(body: dict[str, Any], value: FeedbackValue) -> AuditRecord:
    """The audit record of one click: who, where, which answer's route and model; no text."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    return AuditRecord(
        team=str((body.get("team") or {}).get("id", "")),
        channel=str((body.get("channel") or {}).get("id") or container.get("channel_id", "")),
        thread=str(message.get("thread_ts") or container.get("message_ts") or ""),
        user=str((body.get("user") or {}).get("id", "")),
        route=value.route,
        reasons=tuple(value.reasons),
        model="-",
        answered_by=value.model,
        outcome="feedback",
        latency_ms=0,
        kind="feedback",
        vote=value.vote,
        channel_kind=value.kind,
        time=time.time(),
    )


def register(app: AsyncApp, audit: AuditLog) -> None:
    """Record clicks on the feedback buttons."""

    @app.action(ACTION_ID)
    async def on_feedback(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        value = parse_click(body)
        if value is None:
            log.warning("feedback click with an invalid value ignored")
            return
        await audit.record(click_record(body, value))
        channel = (body.get("channel") or {}).get("id")
        user = (body.get("user") or {}).get("id")
        if channel and user:
            try:
                await client.chat_postEphemeral(channel=channel, user=user, text=THANKS_TEXT)
            except SLACK_FAILURES as exc:  # a courtesy: the click is recorded already
                log.info("feedback thanks not shown", extra={"error": slack_error(exc)})
