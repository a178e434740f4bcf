#!/usr/bin/env python3
"""hearthbot under load, measured from outside: the real `hearthbot serve` process, a Redis
server of its own, the Slack fake and two model fakes (cloud and on-prem) with a set
first-token time and word rate, all on loopback.

Drives signed `/ask` commands, mentions and DMs (in turn), and prints:
- acknowledgement time of each Slack request (p50/p99/max), and the load generator's own
  floor (the same requests against a server that only answers 200);
- overhead per answer: time from sending the request to the answer's final message
  (the one with its footer) minus the model's own time (first byte to last word, as the
  model fake measured it);
- first streamed text minus the model's first-token time;
- throughput, answers lost and duplicated, the serve process's peak RSS and CPU per request.

Two shapes of load:
- `--mode steady` (default): `--concurrency` conversations in flight at all times (each
  asks again as soon as its answer is complete; they start spread over one answer's time);
- `--mode burst`: `--concurrency` requests sent at the same moment, batch after batch.

    .venv/bin/python bench/run.py [--mode steady|burst] [--requests 200] [--concurrency 50]
        [--first-token-s 0.5] [--words-per-second 20] [--answer-words 40]
        [--profile samples.txt] [--json]

Timing targets are not asserted here (they are read from the output); `--smoke` fails
(exit 1) only when an answer is lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass, field
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
from tests.fakes.slack_api import BOT_TOKEN, Call, FakeSlack, conversation  # noqa: E402
from tests.fakes.slack_requests import (  # noqa: E402
    SIGNING_SECRET,
    dm_event,
    mention_event,
    sign,
    slash_form,
)

CHANNEL = "C0PUBLIC01"
DM = "D0DMBENCH"
KINDS = ("/ask", "mention", "dm")


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p99 and max in milliseconds (nearest rank)."""
    if not values:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def at(p: float) -> float:
        rank = max(0, min(len(ordered) - 1, round(p * len(ordered) + 0.5) - 1))
        return round(ordered[rank] * 1000, 1)

    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 1)}


def process_figures(pid: int) -> dict[str, float]:
    """Peak resident size (MiB) and CPU seconds of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kib = next(
        int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")
    )
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return {"peak_rss_mib": round(peak_kib / 1024, 1), "cpu_s": cpu_s}


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


@dataclass
class Request:
    """One request and what became of it, on this process's monotonic clock."""

    marker: str
    kind: str
    user: str
    body: str = ""
    content_type: str = ""
    thread_ts: str | None = None  # the answer's thread (a message's own ts; /ask: its heading)
    sent_at: float = 0.0
    ack_s: float | None = None
    first_text_at: float | None = None
    done_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Observer:
    """Follows the Slack fake's calls to each request's first text and final message."""

    def __init__(self, requests: list[Request]) -> None:
        self.by_marker = {r.marker: r for r in requests}
        self.by_thread: dict[str, Request] = {}
        self.stream_thread: dict[str, str] = {}

    def expect(self, request: Request) -> None:
        if request.thread_ts is not None:
            self.by_thread[request.thread_ts] = request

    def __call__(self, call: Call) -> None:
        p = call.params
        if not p.get("_ok"):
            return
        if call.method == "chat.postMessage" and not p.get("thread_ts"):
            text = str(p.get("text", ""))
            marker = text.rsplit("question ", 1)[-1][:12] if "question " in text else ""
            request = self.by_marker.get(marker)
            if request is not None and request.thread_ts is None:
                request.thread_ts = str(p.get("_ts"))
                self.by_thread[request.thread_ts] = request
            return
        thread = p.get("thread_ts")
        if call.method == "chat.startStream":
            self.stream_thread[str(p.get("_ts"))] = str(thread)
        elif call.method in ("chat.stopStream", "chat.update"):
            thread = self.stream_thread.get(str(p.get("ts")))
        request = self.by_thread.get(str(thread))
        if request is None:
            return
        shows_text = bool(p.get("markdown_text") or p.get("text"))
        starts = call.method in ("chat.startStream", "chat.postMessage")
        if starts and shows_text and request.first_text_at is None:
            request.first_text_at = call.at
        if p.get("blocks") and call.method != "chat.startStream" and request.done_at is None:
            request.done_at = call.at
            request.done.set()


def build_requests(
    count: int, concurrency: int, slack: FakeSlack, prefix: str = "bench"
) -> list[Request]:
    requests = []
    for i in range(count):
        marker = f"{prefix}{i:07d}"
        kind = KINDS[i % len(KINDS)]
        user = f"U0BENCH{i % max(concurrency, 1):04d}"
        request = Request(marker, kind, user)
        text = f"question {marker}"
        if kind == "/ask":
            request.body = slash_form(text, CHANNEL, "general", slack.response_url(marker), user)
            request.content_type = "application/x-www-form-urlencoded"
        else:
            # Each person has their own DM with the bot (and its memory grows).
            dm = f"{DM}{i % max(concurrency, 1):04d}"
            event = (
                mention_event(text, CHANNEL, user=user)
                if kind == "mention"
                else dm_event(text, dm, user=user)
            )
            request.thread_ts = str(event["event"]["ts"])
            request.body = json.dumps(event)
            request.content_type = "application/json"
        requests.append(request)
    return requests


async def send(session: aiohttp.ClientSession, url: str, request: Request) -> None:
    """POST one signed request; its acknowledgement time is recorded."""
    ts = int(time.time())
    headers = {
        "Content-Type": request.content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(request.body, ts, SIGNING_SECRET),
    }
    data = request.body.encode()
    request.sent_at = time.monotonic()
    async with session.post(url, data=data, headers=headers) as response:
        await response.read()
        request.ack_s = time.monotonic() - request.sent_at
        if response.status != 200:
            raise RuntimeError(f"{request.kind} answered HTTP {response.status}")


async def drive(args: argparse.Namespace, url: str, requests: list[Request]) -> None:
    """Send every request in the chosen shape of load."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        if args.mode == "burst":
            for start in range(0, len(requests), args.concurrency):
                batch = requests[start : start + args.concurrency]
                await asyncio.gather(*(send(session, url, r) for r in batch))
            return
        queue = iter(requests)
        spread = args.model_s / max(args.concurrency, 1)

        async def conversation_loop(i: int) -> None:
            await asyncio.sleep(i * spread)
            for request in queue:
                await send(session, url, request)
                await asyncio.wait_for(request.done.wait(), args.timeout_s)

        await asyncio.gather(*(conversation_loop(i) for i in range(args.concurrency)))


FLOOR_SERVER = textwrap.dedent(
    """
    import sys
    from aiohttp import web
    async def ok(request):
        await request.read()
        return web.Response()
    app = web.Application()
    app.router.add_post("/slack/events", ok)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
    """
)


async def generator_floor(args: argparse.Namespace, slack: FakeSlack) -> dict[str, Any]:
    """Acknowledgement times of the same requests against a server that only answers 200:
    what the load generator itself adds to every acknowledgement it measures."""
    port = 20000 + os.getpid() % 20000
    server = await asyncio.create_subprocess_exec(sys.executable, "-c", FLOOR_SERVER, str(port))
    try:
        url = f"http://127.0.0.1:{port}/slack/events"
        async with aiohttp.ClientSession() as probe:
            for _ in range(100):
                try:
                    async with probe.get(f"http://127.0.0.1:{port}/"):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        requests = build_requests(args.concurrency, args.concurrency, slack)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            await asyncio.gather(*(send(session, url, r) for r in requests))
        return percentiles([r.ack_s for r in requests if r.ack_s is not None])
    finally:
        server.terminate()
        await server.wait()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    redis = await RedisProcess().start()
    slack = await FakeSlack().start()
    slack.channels[CHANNEL] = conversation("public", CHANNEL, "general")
    for i in range(max(args.concurrency, 1)):
        slack.channels[f"{DM}{i:04d}"] = conversation("im", f"{DM}{i:04d}")
    models = []
    for name in ("closed-gpt", "local-llama"):
        model = await FakeModelServer(name, "openai").start()
        model.delay_s = args.first_token_s
        model.word_delay_s = 1 / args.words_per_second
        model.extra_words = max(0, args.answer_words - 6)  # "answer from X to: question M"
        models.append(model)
    closed, local = models
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
        OPENAI_BASE_URL=closed.base_url,
        LOG_LEVEL="WARNING",
        MODEL_TIMEOUT_S=str(int(args.timeout_s)),
        # The model fakes serve any number at once: the gates are not what is measured.
        MAX_IN_FLIGHT_CLOSED=str(max(args.concurrency, 32)),
        MAX_IN_FLIGHT_LOCAL=str(max(args.concurrency, 32)),
        # Counted (their cost is measured) but never reached.
        RATE_LIMIT_PER_USER="100000/minute",
        RATE_LIMIT_PER_CHANNEL="100000/minute",
    )
    floor = await generator_floor(args, slack) if args.mode == "burst" else None
    serve = await start_serving(env, "--http")
    try:
        await serve.wait_healthy()
        url = f"{serve.base_url}/slack/events"
        warm = build_requests(len(KINDS), 1, slack, prefix="warmu")
        observer = Observer(warm)
        slack.observers.append(observer)
        for r in warm:
            observer.expect(r)
        await drive(argparse.Namespace(**{**vars(args), "mode": "steady", "concurrency": 1}),
                    url, warm)  # fmt: skip
        slack.calls.clear()
        for model in models:
            model.timings.clear()
        requests = build_requests(args.requests, args.concurrency, slack)
        observer = Observer(requests)
        slack.observers[:] = [observer]
        for r in requests:
            observer.expect(r)
        cpu_before = process_figures(serve.process.pid)["cpu_s"]
        profiler = None
        if args.profile:
            profiler = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "py-spy"), "record",
                "--pid", str(serve.process.pid), "--format", "raw", "--rate", "250",
                "--nonblocking", "--output", args.profile,
                stdout=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(1)
        # The load generator must not pause itself: its own start-up objects are frozen and
        # its collector off while it measures (it allocates little).
        gc.collect()
        gc.freeze()
        gc.disable()
        started = time.monotonic()
        await drive(args, url, requests)
        threads_of = {r.marker: r.thread_ts for r in requests if r.kind != "/ask" and r.thread_ts}
        tally = await settled(slack, [r.marker for r in requests], args.timeout_s, threads_of)
        ended = max((r.done_at for r in requests if r.done_at), default=time.monotonic())
        figures = process_figures(serve.process.pid)
        gc.enable()
        if profiler is not None:
            profiler.send_signal(2)
            await profiler.wait()
    finally:
        serve.signal()
        await serve.stopped()
        for model in models:
            await model.stop()
        await slack.stop()
        await redis.stop()
        await redis.cleanup()
    model_times = {
        question.rsplit("question ", 1)[-1][:12]: (arrived, first, last)
        for model in models
        for question, arrived, first, last in model.timings
    }
    overhead, first_text, before_model, after_model = [], [], [], []
    by_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for r in requests:
        timing = model_times.get(r.marker)
        if timing is None:
            continue
        arrived, first, last = timing
        if r.done_at is not None:
            overhead.append(r.done_at - r.sent_at - (last - arrived))
            by_kind[r.kind].append(overhead[-1])
            before_model.append(arrived - r.sent_at)
            after_model.append(r.done_at - last)
        if r.first_text_at is not None:
            first_text.append(r.first_text_at - r.sent_at - (first - arrived))
    acks = [r.ack_s for r in requests if r.ack_s is not None]
    result: dict[str, Any] = {
        "mode": args.mode,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "entry_points": "/ask, mentions and DMs in turn",
        "model": f"first token {args.first_token_s} s, {args.answer_words} words at "
        f"{args.words_per_second:g}/s",
        "ack": percentiles(acks),
        "acks_over_3s": sum(1 for a in acks if a > 3),
        "overhead": percentiles(overhead),
        "overhead_by_entry_point": {kind: percentiles(v) for kind, v in by_kind.items()},
        "overhead_before_the_model": percentiles(before_model),
        "overhead_after_the_model": percentiles(after_model),
        "first_text_minus_model_first_token": percentiles(first_text),
        "throughput_answers_per_s": round(tally.answered / max(ended - started, 1e-9), 1),
        "answered": tally.answered,
        "told": tally.told,
        "lost": len(tally.lost),
        "duplicated": len(tally.duplicated),
        "peak_rss_mib": figures["peak_rss_mib"],
        "cpu_ms_per_request": round(1000 * (figures["cpu_s"] - cpu_before) / args.requests, 1),
        "machine": machine(),
    }
    if floor is not None:
        result["load_generator_ack_floor"] = floor
    return result


def detection_ms_per_kb() -> dict[str, float]:
    """The detector's CPU time per KB (best of five, this thread) on ordinary text: the
    labelled PII corpus beside the project when it is there (messages full of personal
    data), and the project's own README and prompts (technical prose)."""
    from bot.routing.sensitive import SensitiveDetector

    detector = SensitiveDetector()
    samples: dict[str, list[str]] = {
        "readme_and_prompts": [
            path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "prompts").glob("*"))]
        ]
    }
    corpus = ROOT.parent / "shared" / "data" / "pii" / "synth_dataset_v2.half.json"
    if corpus.exists():
        samples["pii_corpus"] = [str(item["full_text"]) for item in json.loads(corpus.read_text())]
    figures = {}
    for name, texts in samples.items():
        kb = sum(len(t.encode()) for t in texts) / 1024
        best = float("inf")
        for _ in range(5):
            started = time.thread_time()
            for text in texts:
                detector.categories([text])
            best = min(best, time.thread_time() - started)
        figures[name] = round(best * 1000 / kb, 3)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("steady", "burst"), default="steady")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--first-token-s", type=float, default=0.5)
    parser.add_argument("--words-per-second", type=float, default=20)
    parser.add_argument("--answer-words", type=int, default=40)
    parser.add_argument("--timeout-s", type=float, default=120)
    parser.add_argument("--profile", help="write py-spy's raw samples of serve here")
    parser.add_argument(
        "--smoke", action="store_true", help="exit 1 if any answer is lost or duplicated"
    )
    args = parser.parse_args()
    args.model_s = args.first_token_s + (args.answer_words - 1) / args.words_per_second
    result = asyncio.run(run(args))
    result["detection_ms_per_kb"] = detection_ms_per_kb()
    print(json.dumps(result, indent=2))
    if args.smoke and (result["lost"] or result["duplicated"] or result["told"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
