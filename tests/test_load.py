"""Under load no answer is lost: 200 requests in flight, a bounded number at each model, the
rest in line (told so), and beyond the line a clear sentence. Real Bolt over HTTP, real
Redis, real LangChain clients; Slack and the models are the loopback fakes."""

from __future__ import annotations

import asyncio

from tests.conftest import AppFactory, RunningApp
from tests.fakes.ledger import settled
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import slash_form


async def ask_many(app: RunningApp, slack: FakeSlack, channel: str, name: str, n: int) -> list[str]:
    """`/ask` n times at once, by n people, each question with its own marker; returns the
    markers."""
    markers = [f"q{i:04d}" for i in range(n)]
    statuses = await asyncio.gather(
        *(
            app.sender.command(
                slash_form(f"question {m}", channel, name, slack.response_url(m), f"U0LOAD{m}")
            )
            for m in markers
        )
    )
    assert [status for status, _, _ in statuses] == [200] * n
    return markers


async def test_200_questions_in_flight_are_all_answered_once(
    make_app: AppFactory, slack: FakeSlack, public: str, closed_server: FakeModelServer
) -> None:
    # A small Redis pool and a model that takes 2 s: every request needs Redis while most
    # connections are busy, and most requests wait in line for the model.
    closed_server.delay_s = 2.0
    app = await make_app(redis_max_connections=8, max_in_flight_closed=50, model_timeout_s=60)
    markers = await ask_many(app, slack, public, "general", 200)
    result = await settled(slack, markers, timeout_s=90)
    assert result.lost == []
    assert result.duplicated == []
    assert result.answered == 200
    assert closed_server.max_in_flight <= 50
    # The last in line waited ~6 s: their thread's status said they are in line.
    assert any("in line" in status for _, _, _, status in slack.statuses)
    records = await app.services.audit.tail(500)
    assert sorted(r.outcome for r in records) == ["answered"] * 200


async def test_each_route_gives_its_model_at_most_its_limit(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    local_server.delay_s = 0.5
    app = await make_app(max_in_flight_local=3)
    markers = await ask_many(app, slack, "C0PRIVATE1", "deals", 12)
    result = await settled(slack, markers)
    assert result.answered == 12
    assert local_server.max_in_flight == 3


async def test_beyond_the_line_the_asker_is_told_to_ask_again(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    # Long enough that all six are in before the first is answered.
    local_server.delay_s = 3.0
    app = await make_app(max_in_flight_local=1, max_queued=2, model_timeout_s=30)
    markers = await ask_many(app, slack, "C0PRIVATE1", "deals", 6)
    result = await settled(slack, markers, timeout_s=40)
    assert (result.answered, result.told, result.lost) == (3, 3, [])
    busy = [p for p in slack.posts if "too many questions" in str(p.get("text"))]
    assert len(busy) == 3
    records = await app.services.audit.tail(10)
    assert sorted(r.outcome for r in records) == ["answered"] * 3 + ["busy"] * 3


async def test_where_the_bot_cannot_post_the_line_notice_reaches_the_asker_alone(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    # A private channel the bot is not in: answers go through each command's response URL.
    slack.channels["C0NOTMEMB1"] = conversation("private", "C0NOTMEMB1", "board")
    slack.not_member.add("C0NOTMEMB1")
    local_server.delay_s = 2.5
    app = await make_app(max_in_flight_local=1)
    markers = await ask_many(app, slack, "C0NOTMEMB1", "board", 2)
    result = await settled(slack, markers, timeout_s=30)
    assert result.answered == 2
    waited = [p for m in markers for p in slack.response_posts_by_key[m] if "in line" in p["text"]]
    assert len(waited) == 1
    assert waited[0]["response_type"] == "ephemeral"
    answers = [p for p in slack.response_posts if "answer from" in p["text"]]
    assert [a["response_type"] for a in answers] == ["in_channel", "in_channel"]
