#!/usr/bin/env python3
"""How fast hearthbot acknowledges Slack, and answers, on this machine.

Starts the real app (Bolt over HTTP, real Redis) against the loopback Slack fake and a
recording OpenAI-protocol model server from tests/fakes, then sends signed `/ask` commands
and app_mention events, one at a time and then in concurrent bursts, and reports the time
to the HTTP acknowledgement and to the posted answer (p50 / p95 / max). The fake model
answers at once, so the figures are hearthbot's own overhead, not a model's speed.

    .venv/bin/python scripts/bench_ack.py [--requests 200] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bot.app import build_bolt_app, build_services, build_web_app  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.fakes.loopback import serve_on_loopback, wait_until  # noqa: E402
from tests.fakes.model_servers import FakeModelServer  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, conversation  # noqa: E402
from tests.fakes.slack_requests import SIGNING_SECRET, SlackSender, mention_event, slash_form  # noqa: E402


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.5), "p95_ms": at(0.95), "max_ms": round(ordered[-1] * 1000, 1),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1)}  # fmt: skip


async def run(requests: int, concurrency: int) -> dict[str, object]:
    slack = await FakeSlack().start()
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    model = await FakeModelServer("bench-model", "openai").start()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url, redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        redis_prefix=f"hearthbot-bench-{uuid.uuid4().hex[:8]}", local_model="openai:bench-model",
        local_base_url=model.base_url, closed_model="none",
    )  # fmt: skip
    services = await build_services(settings)
    runner: web.AppRunner
    runner, url = await serve_on_loopback(
        build_web_app(services, build_bolt_app(settings, services))
    )
    results: dict[str, object] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sender = SlackSender(session, f"{url}/slack/events")

        async def one_command(i: int) -> float:
            form = slash_form(f"question {i}", "C0PUBLIC01", "general", slack.response_url())
            status, _, seconds = await sender.command(form)
            assert status == 200
            return seconds

        async def one_event(i: int) -> float:
            status, _, seconds = await sender.event(mention_event(f"question {i}", "C0PUBLIC01"))
            assert status == 200
            return seconds

        await one_command(-1)  # warm-up: Bolt's first auth.test
        for name, send in (("slash_command", one_command), ("app_mention", one_event)):
            serial = [await send(i) for i in range(requests)]
            burst: list[float] = []
            started = time.monotonic()
            for start in range(0, requests, concurrency):
                burst += await asyncio.gather(
                    *(send(i) for i in range(start, min(requests, start + concurrency)))
                )
            results[f"{name}_ack_serial"] = percentiles(serial)
            results[f"{name}_ack_concurrent_{concurrency}"] = percentiles(burst)
            results[f"{name}_burst_seconds"] = round(time.monotonic() - started, 2)
        # Each command posts twice (the question, then the answer in its thread), each
        # mention once; the warm-up command is one more.
        expected_posts = 2 + 2 * (2 * requests) + 2 * requests
        started = time.monotonic()
        await wait_until(lambda: len(slack.posts) >= expected_posts, "all answers", 120)
        results["all_answers_seconds"] = round(time.monotonic() - started, 2)
        results["answers_posted"] = len(slack.posts)
        results["answers_expected"] = expected_posts
    await runner.cleanup()
    await services.aclose()
    await model.stop()
    await slack.stop()
    results["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.requests, args.concurrency)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
