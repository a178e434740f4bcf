#!/usr/bin/env python3
"""What a person sees, second by second, after one `/ask`; and how soon the status shows.

Starts the real app (Bolt over HTTP, real Redis) against the loopback Slack fake and a fake
OpenAI-protocol model that writes at a chosen speed, sends one signed `/ask`, and prints
every Slack call the app made with its time since the command was sent. Then sends
`--requests` more (mentions and `/ask`, one at a time) and reports the time from each
request to its "is thinking…" status (p50 / p95 / max).

    .venv/bin/python bench/ask_timeline.py [--words 120] [--words-per-second 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bot.app import build_bolt_app, build_services, build_web_app  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.fakes.loopback import serve_on_loopback, wait_until  # noqa: E402
from tests.fakes.model_servers import FakeModelServer  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, conversation  # noqa: E402
from tests.fakes.slack_requests import (  # noqa: E402
    SIGNING_SECRET,
    SlackSender,
    mention_event,
    slash_form,
)


def describe(method: str, params: dict[str, object]) -> str:
    """One line for a Slack call: what the person sees change."""
    if method == "assistant.threads.setStatus":
        status = params.get("status")
        return f"status {status!r}" if status else "status cleared"
    if method == "chat.postMessage":
        return f"message posted: {str(params.get('text', ''))[:60]!r}"
    if method in ("chat.startStream", "chat.appendStream"):
        text = str(params.get("markdown_text") or "")
        return f"{len(text)} characters streamed in"
    if method == "chat.stopStream":
        kinds = [b["type"] for b in params.get("blocks") or []]  # type: ignore[attr-defined, index]
        return f"stream finished, {len(str(params.get('markdown_text') or ''))} more chars, {kinds}"
    return ""


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(ordered[len(ordered) // 2] * 1000),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000),
        "max_ms": round(ordered[-1] * 1000),
    }


async def run(words: int, words_per_second: float, requests: int) -> None:
    slack = await FakeSlack().start()
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    model = await FakeModelServer("gpt-fake", "openai").start()
    model.reply = "\n".join(
        " ".join(f"word{line}x{n}" for n in range(10)) for line in range(words // 10)
    )
    model.word_delay_s = 1 / words_per_second
    model.delay_s = 0.5  # time to the first word
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        redis_prefix=f"hearthbot-timeline-{uuid.uuid4().hex[:8]}",
        local_model="openai:gpt-fake", local_base_url=model.base_url, closed_model="none",
        model_timeout_s=120,
    )  # fmt: skip
    services = await build_services(settings)
    runner, url = await serve_on_loopback(
        build_web_app(services, build_bolt_app(settings, services))
    )
    async with aiohttp.ClientSession() as session:
        sender = SlackSender(session, f"{url}/slack/events")
        await sender.command(slash_form("warm up", "C0PUBLIC01", "general", slack.response_url()))
        await wait_until(lambda: len(slack.posts) >= 2, "the warm-up answer", 120)
        slack.calls.clear()
        sent = time.monotonic()
        await sender.command(
            slash_form("what is a vector clock?", "C0PUBLIC01", "general", slack.response_url())
        )
        await wait_until(lambda: slack.calls_to("chat.stopStream"), "the answer", 120)
        print(f"One /ask; the model writes {words} words at {words_per_second:g} a second:")
        for call in slack.calls:
            line = describe(call.method, call.params)
            if line:
                print(f"  {call.at - sent:6.2f} s  {call.method:<28} {line}")

        model.word_delay_s = 0
        latencies: list[float] = []
        for i in range(requests):
            before = len(slack.statuses)
            started = time.monotonic()
            if i % 2:
                await sender.event(mention_event(f"question {i}", "C0PUBLIC01"))
            else:
                await sender.command(
                    slash_form(f"question {i}", "C0PUBLIC01", "general", slack.response_url())
                )
            await wait_until(lambda b=before: len(slack.statuses) > b, "a status", 30)  # type: ignore[misc]
            latencies.append(slack.statuses[before][0] - started)
            await wait_until(lambda b=before: len(slack.statuses) > b + 1, "cleared", 60)  # type: ignore[misc]
        await wait_until(
            lambda: len(slack.calls_to("chat.stopStream")) >= requests + 1, "every answer", 120
        )
        failed = [(c.method, c.params.get("_error")) for c in slack.calls if not c.params["_ok"]]
        print(
            json.dumps(
                {
                    "status_after_request": percentiles(latencies),
                    "slack_errors": failed,
                    "requests": requests,
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                    f"Python {platform.python_version()}",
                }
            )
        )
    await runner.cleanup()
    await services.aclose()
    await model.stop()
    await slack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--words", type=int, default=120)
    parser.add_argument("--words-per-second", type=float, default=20)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(run(args.words, args.words_per_second, args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
