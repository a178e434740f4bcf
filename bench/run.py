#!/usr/bin/env python3
"""hearthbot under load, measured from outside: the real `hearthbot serve` process, a Redis
server of its own, the Slack fake and a cloud-model fake with a set first-token time and
token rate, all on loopback.

Sends `--requests` signed `/ask` commands, `--concurrency` at a time (a batch is sent once
the previous one is acknowledged; answers overlap), and prints: the
acknowledgement time (p50/p99/max), the bot's overhead per answer (time to the answer's
footer minus the model's own time), the first streamed text minus the model's first-token
time, throughput, answers lost and duplicated, the serve process's peak RSS and CPU time
per request, and the machine.

    .venv/bin/python bench/run.py [--requests 200] [--concurrency 200]
        [--first-token-s 0.5] [--words-per-second 10]

First step of issue 10 (measure first): no targets are asserted here.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests.conftest import CLOSED_KEY  # noqa: E402
from tests.fakes.ledger import settled  # noqa: E402
from tests.fakes.model_servers import FakeModelServer  # noqa: E402
from tests.fakes.redis_process import RedisProcess  # noqa: E402
from tests.fakes.serve_process import clean_env, start_serving  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, conversation  # noqa: E402
from tests.fakes.slack_requests import SIGNING_SECRET, SlackSender, slash_form  # noqa: E402

CHANNEL = "C0PUBLIC01"
ANSWER_WORDS = 6


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 1)}


def process_figures(pid: int) -> dict[str, float]:
    """Peak resident size (MiB) and CPU seconds of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kib = next(
        int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")
    )
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks
    return {"peak_rss_mib": round(peak_kib / 1024, 1), "cpu_s": round(cpu_s, 2)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    redis = await RedisProcess().start()
    slack = await FakeSlack().start()
    slack.channels[CHANNEL] = conversation("public", CHANNEL, "general")
    model = await FakeModelServer("closed-gpt", "openai").start()
    model.delay_s = args.first_token_s
    model.word_delay_s = 1 / args.words_per_second
    # The fake answers "answer from closed-gpt to: question benchNNNNN": six words.
    model_time = args.first_token_s + (ANSWER_WORDS - 1) / args.words_per_second
    local = await FakeModelServer("local-llama", "openai").start()
    env = clean_env(
        redis.url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        REDIS_PREFIX=f"hearthbot-bench-{uuid.uuid4().hex[:8]}",
        LOCAL_MODEL="openai:local-llama",
        LOCAL_BASE_URL=local.base_url,
        CLOSED_MODEL="openai:closed-gpt",
        OPENAI_API_KEY=CLOSED_KEY,
        OPENAI_BASE_URL=model.base_url,
        LOG_LEVEL="WARNING",
        MODEL_TIMEOUT_S="120",
        MAX_IN_FLIGHT_CLOSED=str(max(args.concurrency, 32)),
    )
    serve = await start_serving(env, "--http")
    results: dict[str, Any] = {}
    try:
        await serve.wait_healthy()
        markers = [f"bench{i:05d}" for i in range(args.requests)]
        sent_at: dict[str, float] = {}
        acks: list[float] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            sender = SlackSender(session, f"{serve.base_url}/slack/events")
            await sender.command(slash_form("warm up", CHANNEL, "general", slack.response_url()))
            await asyncio.sleep(2 + model_time)
            slack.calls.clear()
            cpu_before = process_figures(serve.process.pid)["cpu_s"]  # start-up left out
            profiler = None
            if args.profile:
                profiler = await asyncio.create_subprocess_exec(
                    "py-spy",
                    "record",
                    "--pid",
                    str(serve.process.pid),
                    "--format",
                    "raw",
                    "--rate",
                    "500",
                    "--output",
                    args.profile,
                    "--nonblocking",
                    stdout=asyncio.subprocess.DEVNULL,
                )
                await asyncio.sleep(1)
            started = time.monotonic()

            async def one(marker: str) -> None:
                sent_at[marker] = time.monotonic()
                form = slash_form(f"question {marker}", CHANNEL, "general", slack.response_url())
                status, _, seconds = await sender.command(form)
                assert status == 200, status
                acks.append(seconds)

            for start in range(0, len(markers), args.concurrency):
                await asyncio.gather(*(one(m) for m in markers[start : start + args.concurrency]))
            tally = await settled(slack, markers, timeout_s=120 + 2 * model_time)
            elapsed = time.monotonic() - started
            if profiler is not None:
                profiler.send_signal(2)
                await profiler.wait()
        overheads, first_text = [], []
        headings = {
            m.record["text"].split("question ")[-1][:10]: m.ts
            for m in slack.messages.values()
            if m.thread_ts is None and "question bench" in m.record["text"]
        }
        for marker, heading_ts in headings.items():
            calls = [
                c
                for c in slack.calls
                if c.params.get("_ok")
                and (c.params.get("thread_ts") == heading_ts)
                and c.method in ("chat.startStream", "chat.postMessage")
            ]
            if not calls or marker not in sent_at:
                continue
            first_text.append(calls[0].at - sent_at[marker] - args.first_token_s)
            stream_ts = calls[0].params.get("_ts")
            stops = [
                c
                for c in slack.calls
                if c.method == "chat.stopStream" and c.params.get("ts") == stream_ts
                and c.params.get("blocks")
            ]  # fmt: skip
            if stops:
                overheads.append(stops[-1].at - sent_at[marker] - model_time)
        results = {
            "requests": args.requests,
            "concurrency": args.concurrency,
            "model": f"first token {args.first_token_s} s, {ANSWER_WORDS} words at "
            f"{args.words_per_second:g}/s ({model_time:.2f} s)",
            "ack": percentiles(acks),
            "acks_over_3s": sum(1 for a in acks if a > 3),
            "overhead": percentiles(overheads),
            "first_text_minus_model_first_token": percentiles(first_text),
            "throughput_answers_per_s": round(tally.answered / elapsed, 1),
            "answered": tally.answered,
            "lost": len(tally.lost),
            "duplicated": len(tally.duplicated),
            **process_figures(serve.process.pid),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
        }
        cpu = results.pop("cpu_s") - cpu_before
        results["cpu_ms_per_request"] = round(1000 * cpu / args.requests, 1)
    finally:
        serve.signal()
        await serve.stopped()
        await model.stop()
        await local.stop()
        await slack.stop()
        await redis.stop()
        await redis.cleanup()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--first-token-s", type=float, default=0.5)
    parser.add_argument("--words-per-second", type=float, default=10)
    parser.add_argument("--profile", help="write py-spy's raw samples of serve here")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
