"""Slack's AI-app surfaces through the whole app: feedback buttons recorded and reported,
the Home tab, the Messages tab's suggested prompts, and the email summary's status."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

from bot.cli.audit import audit
from bot.slack.app_home import SUGGESTED_PROMPTS
from bot.slack.status import SUMMARISING
from tests.conftest import AppFactory, RunningApp
from tests.fakes.loopback import wait_until
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import (
    app_home_opened_event,
    assistant_thread_started_event,
    feedback_click_form,
    message_action_form,
    new_ts,
    slash_form,
)
from tests.test_email_summaries import REFUND_EMAIL


async def answered_ask(app: RunningApp, slack: FakeSlack, question: str) -> dict[str, Any]:
    """/ask in #general; returns the answer message, once finished."""
    slack.channels.setdefault("C0PUBLIC01", conversation("public", "C0PUBLIC01", "general"))
    await app.sender.command(slash_form(question, "C0PUBLIC01", "general", slack.response_url()))
    _, answer = await slack.wait_for_posts(2)
    return answer


def feedback_values(answer: dict[str, Any]) -> tuple[str, str]:
    (buttons,) = [b for b in answer["blocks"] if b["type"] == "context_actions"]
    element = buttons["elements"][0]
    return element["positive_button"]["value"], element["negative_button"]["value"]


async def stats(app: RunningApp) -> str:
    out = io.StringIO()
    args = argparse.Namespace(audit_command="stats", since="1h", json=False)
    assert await audit(app.services.settings, args, out) == 0
    return out.getvalue()


async def test_feedback_clicks_are_recorded_without_text_and_reported_per_model(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    app = await make_app()
    answer = await answered_ask(app, slack, "what is the capital of Peru?")
    good, bad = feedback_values(answer)
    message = {"ts": answer["_ts"], "thread_ts": answer["thread_ts"], "text": answer["text"]}
    for value, user in ((good, "U0ALICE001"), (good, "U0BOB00002"), (bad, "U0CAROL003")):
        status, _, _ = await app.sender.command(
            feedback_click_form(message, "C0PUBLIC01", value, user=user)
        )
        assert status == 200
    await wait_until(lambda: len(slack.calls_to("chat.postEphemeral")) == 3, "3 thanks", 10)
    records = [r for r in await app.services.audit.tail(10) if r.kind == "feedback"]
    assert [(r.vote, r.user) for r in records] == [
        ("good", "U0ALICE001"), ("good", "U0BOB00002"), ("bad", "U0CAROL003")
    ]  # fmt: skip
    first = records[0]
    assert (first.route, first.answered_by) == ("closed", "closed-gpt")
    assert first.channel_kind == "public"
    assert first.reasons == ("public_channel",)
    assert first.channel == "C0PUBLIC01"
    assert "Peru" not in json.dumps([r.__dict__ for r in records])
    report = await stats(app)
    assert "feedback closed closed-gpt: 2 good, 1 bad (67% satisfied)" in report
    assert "1 requests" in report  # clicks are not counted as requests


async def test_a_forged_feedback_value_is_ignored(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    app = await make_app()
    answer = await answered_ask(app, slack, "hello")
    message = {"ts": answer["_ts"], "thread_ts": answer["thread_ts"]}
    for value in ("not json", json.dumps({"vote": "great", "route": "x"}), "[]"):
        status, _, _ = await app.sender.command(feedback_click_form(message, "C0PUBLIC01", value))
        assert status == 200
    assert [r for r in await app.services.audit.tail(10) if r.kind == "feedback"] == []


async def test_the_home_tab_shows_routing_and_the_persons_own_requests_without_text(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    app = await make_app(confidential_channels=["#legal-*", "C0SECRET01"])
    await answered_ask(app, slack, "what is kubernetes")
    await app.sender.event(app_home_opened_event("U0ALICE001", "home"))
    await wait_until(lambda: slack.published_views, "the Home tab", 10)
    (published,) = slack.published_views
    assert published["user_id"] == "U0ALICE001"
    shown = json.dumps(published["view"], ensure_ascii=False)
    assert "local-llama" in shown
    assert "closed-gpt" in shown
    assert "#legal-*" in shown
    assert "card number" in shown  # a detected category, from the live policy
    assert "☁️ cloud · closed-gpt · answered · public channel" in shown
    assert "kubernetes" not in shown
    # Someone else sees none of Alice's requests.
    await app.sender.event(app_home_opened_event("U0BOB00002", "home"))
    await wait_until(lambda: len(slack.published_views) == 2, "Bob's Home tab", 10)
    assert "None yet." in json.dumps(slack.published_views[1]["view"])


async def test_the_messages_tab_and_assistant_threads_get_suggested_prompts(
    make_app: AppFactory, slack: FakeSlack
) -> None:
    slack.channels["D0DMALICE1"] = conversation("im", "D0DMALICE1")
    app = await make_app()
    await app.sender.event(app_home_opened_event("U0ALICE001", "messages", "D0DMALICE1"))
    await wait_until(lambda: slack.suggested_prompts, "prompts", 10)
    (agent_view,) = slack.suggested_prompts
    assert agent_view["channel_id"] == "D0DMALICE1"
    assert "thread_ts" not in agent_view  # the agent view takes no thread
    assert [p["title"] for p in agent_view["prompts"]] == [p["title"] for p in SUGGESTED_PROMPTS]
    thread = new_ts()
    await app.sender.event(assistant_thread_started_event("D0DMALICE1", thread))
    await wait_until(lambda: len(slack.suggested_prompts) == 2, "thread prompts", 10)
    assert slack.suggested_prompts[1]["thread_ts"] == thread


async def test_an_email_summary_shows_summarising_then_posts_the_summary_with_feedback(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "support")
    app = await make_app()
    root, reply = new_ts(), new_ts()
    message = {"type": "message", "user": "U0ALICE001", "ts": reply, "thread_ts": root,
               "text": REFUND_EMAIL}  # fmt: skip
    await app.sender.command(message_action_form(message, "C0PRIVATE1", slack.response_url("9")))
    (summary,) = await slack.wait_for_posts(1)
    assert slack.statuses_of(root)[0] == SUMMARISING
    await wait_until(lambda: slack.statuses_of(root)[-1] == "", "the status cleared", 5)
    kinds = [b["type"] for b in summary["blocks"]]
    assert kinds[0] == "header"
    assert kinds[-2:] == ["context", "context_actions"]
    assert summary["metadata"]["event_type"] == "hearthbot_on_prem_answer"
    assert slack.calls_to("chat.startStream") == []  # validated first, then posted
