#!/usr/bin/env python3
"""Chaos: the real `hearthbot serve --http` process under faults, counting what every asker got.

Each scenario starts a Redis server of its own (so it can be killed), the Slack fake and the
model-server fakes of tests/fakes, and one or two `python -m bot serve --http` processes
configured through the environment. It sends signed Slack requests, injects one fault and
counts, per request (tests/fakes/ledger.py): answered, told an error (a sentence in the
request's thread or through its response URL), lost (neither: must be 0) and duplicated
(more than one answer: must be 0).

    .venv/bin/python scripts/chaos.py [--only NAME] [--json PATH]

Exit code 1 when any scenario loses or duplicates an answer, or answers a malformed request
with anything but a 4xx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests.fakes.ledger import Tally, settled  # noqa: E402
from tests.fakes.model_servers import FakeModelServer  # noqa: E402
from tests.fakes.redis_process import RedisProcess  # noqa: E402
from tests.fakes.serve_process import ServeRun, clean_env, start_serving  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, conversation  # noqa: E402
from tests.fakes.slack_requests import (  # noqa: E402
    SIGNING_SECRET,
    SlackSender,
    mention_event,
    slash_form,
)

PUBLIC = "C0CHAOSPUB"  # routes to the closed model
PRIVATE = "C0CHAOSPRV"  # routes to the on-prem model
CLOSED_KEY = "sk-chaos-closed-provider-key"
RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}

MALFORMED: list[tuple[str, bytes]] = [
    ("application/json", b'{"type": "event_callback", "event": {"type": '),
    ("application/json", b'{"type": "event_callback", "x": "\xff\xfe"}'),
    ("application/json", b'[{"type": "event_callback"}]'),
    ("application/json", b'"event_callback"'),
    ("application/json", b"42"),
    ("application/json", b"null"),
    ("application/json", b""),
    ("application/json", b'{"type": "event_callback", "event": null}'),
    ("application/x-www-form-urlencoded", b"command=%2Fask&text=caf\xe9\xff"),
    ("application/x-www-form-urlencoded", b"payload=%7B%22type%22%3A%22message_action%22"),
    ("application/x-www-form-urlencoded", b"payload=%5B1%2C2%5D"),
]


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    tally: Tally
    note: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.tally.lost or self.tally.duplicated or self.failures)


@dataclass
class World:
    """The fakes, Redis and the serve processes of one scenario."""

    slack: FakeSlack
    local: FakeModelServer
    closed: FakeModelServer
    redis: RedisProcess
    logs: Path
    replicas: list[ServeRun] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(
            self.redis.url,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=self.slack.api_url,
            REDIS_PREFIX=f"hearthbot-chaos-{uuid.uuid4().hex[:8]}",
            LOCAL_MODEL="openai:local-llama",
            LOCAL_BASE_URL=self.local.base_url,
            CLOSED_MODEL="openai:closed-gpt",
            OPENAI_API_KEY=CLOSED_KEY,
            OPENAI_BASE_URL=self.closed.base_url,
            LOG_LEVEL="WARNING",
            # Failures are measured here, not the request limits (one person asks it all).
            RATE_LIMIT_PER_USER="none",
            RATE_LIMIT_PER_CHANNEL="none",
            **extra,
        )

    async def serve(self, env: dict[str, str]) -> ServeRun:
        run = await start_serving(env, "--http")
        await run.wait_healthy()
        self.replicas.append(run)
        return run


@asynccontextmanager
async def world(name: str, logs: Path) -> AsyncIterator[World]:
    slack = await FakeSlack().start()
    slack.channels[PUBLIC] = conversation("public", PUBLIC, "general")
    slack.channels[PRIVATE] = conversation("private", PRIVATE, "deals")
    local = await FakeModelServer("local-llama", "openai").start()
    closed = await FakeModelServer("closed-gpt", "openai", api_key=CLOSED_KEY).start()
    redis = await RedisProcess().start()
    w = World(slack, local, closed, redis, logs / name)
    try:
        yield w
    finally:
        for run in w.replicas:
            run.signal()
        for run in w.replicas:
            await run.stopped()
        w.logs.mkdir(parents=True, exist_ok=True)
        for i, run in enumerate(w.replicas):
            (w.logs / f"serve{i}.log").write_text(run.stderr)
        await redis.cleanup()
        for server in (slack, local, closed):
            await server.stop()


async def ask(
    session: aiohttp.ClientSession, w: World, run: ServeRun, channel: str, marker: str
) -> int:
    sender = SlackSender(session, f"{run.base_url}/slack/events")
    form = slash_form(f"question {marker}", channel, "general", w.slack.response_url(marker))
    status, _, _ = await sender.command(form)
    return status


async def ask_many(w: World, run: ServeRun, channel: str, markers: list[str]) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(ask(session, w, run, channel, m) for m in markers))


def markers(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


# Scenarios ---------------------------------------------------------------------------------


async def load_200(w: World) -> Row:
    w.closed.delay_s = 2.0
    run = await w.serve(w.env())
    sent = markers("load", 200)
    await ask_many(w, run, PUBLIC, sent)
    result = await settled(w.slack, sent, timeout_s=120)
    waited = {ts for _, _, ts, status in w.slack.statuses if "in line" in status}
    note = f"max {w.closed.max_in_flight} at the model at once; {len(waited)} saw 'in line'"
    return Row("load-200", result, note)


async def slack_429(w: World) -> Row:
    run = await w.serve(w.env())
    sent = markers("rate", 20)
    storm = ("chat.postMessage", "chat.startStream", "chat.appendStream", "chat.stopStream")
    for method in storm:
        w.slack.rate_limited[method] = 3
    w.slack.response_url_rate_limited = 2
    task = asyncio.create_task(ask_many(w, run, PUBLIC, sent))
    await asyncio.sleep(1.0)
    for method in storm:
        w.slack.rate_limited[method] = 3  # a second storm, mid-burst
    await task
    result = await settled(w.slack, sent, timeout_s=60)
    limited = sum(1 for c in w.slack.calls if c.params.get("_status") == 429)
    return Row("slack-429", result, f"{limited} calls answered 429 (posts and stream calls)")


async def malformed(w: World) -> Row:
    run = await w.serve(w.env())
    sent = markers("good", 20)
    async with aiohttp.ClientSession() as session:
        sender = SlackSender(session, f"{run.base_url}/slack/events")
        bad = [MALFORMED[i % len(MALFORMED)] for i in range(50)]
        statuses, _ = await asyncio.gather(
            asyncio.gather(*(sender.post_raw(body, ctype) for ctype, body in bad)),
            asyncio.gather(*(ask(session, w, run, PUBLIC, m) for m in sent)),
        )
    result = await settled(w.slack, sent)
    not_4xx = [s for s in statuses if not 400 <= s < 500]
    failures = [f"{len(not_4xx)} malformed requests got {sorted(set(not_4xx))}"] if not_4xx else []
    return Row(
        "malformed", result, f"50 malformed: {len(statuses) - len(not_4xx)} got 4xx", failures
    )


async def redis_restart(w: World) -> Row:
    w.closed.delay_s = 1.0
    run = await w.serve(w.env())
    mid, down, after = markers("midr", 10), markers("down", 10), markers("back", 20)
    task = asyncio.create_task(ask_many(w, run, PUBLIC, mid))
    await asyncio.sleep(0.3)  # killed while these are being answered
    await w.redis.stop()
    await task
    await ask_many(w, run, PUBLIC, down)  # sent while Redis is down
    during = await settled(w.slack, mid + down, timeout_s=30)
    await w.redis.start()
    back = time.monotonic()
    await ask_many(w, run, PUBLIC, after)
    recovered = await settled(w.slack, after, timeout_s=30)
    took = time.monotonic() - back
    result = await settled(w.slack, mid + down + after, timeout_s=1)
    failures = []
    if recovered.answered != len(after):
        failures.append(f"only {recovered.answered}/{len(after)} answered after Redis returned")
    note = (
        f"while down: {during.answered} answered, {during.told} told; after the restart "
        f"{recovered.answered}/{len(after)} answered, within {took:.1f} s"
    )
    return Row("redis-restart", result, note, failures)


async def model_hang(w: World) -> Row:
    timeout_s = 3
    run = await w.serve(w.env(MODEL_TIMEOUT_S=str(timeout_s), MAX_IN_FLIGHT_LOCAL="20"))
    hung, trickled = markers("hang", 10), markers("tric", 10)
    w.local.hang = True
    started = time.monotonic()
    await ask_many(w, run, PRIVATE, hung)
    first = await settled(w.slack, hung, timeout_s=timeout_s + 10)
    hang_s = time.monotonic() - started
    w.local.hang = False
    w.local.reply = " ".join(["word"] * 100)
    w.local.word_delay_s = 1.0  # a word a second: no single read ever times out
    started = time.monotonic()
    await ask_many(w, run, PRIVATE, trickled)
    await settled(w.slack, trickled, timeout_s=timeout_s + 10)
    trickle_s = time.monotonic() - started
    result = await settled(w.slack, hung + trickled, timeout_s=1)
    failures = []
    if max(hang_s, trickle_s) > timeout_s + 3:
        failures.append(f"told after {max(hang_s, trickle_s):.1f} s")
    if first.told != len(hung):
        failures.append("hung requests not told")
    note = f"MODEL_TIMEOUT_S={timeout_s}: all told within {max(hang_s, trickle_s):.1f} s"
    return Row("model-hang", result, note, failures)


async def sigterm(w: World) -> Row:
    w.local.delay_s = 3.0
    run = await w.serve(w.env(MAX_IN_FLIGHT_LOCAL="8"))
    sent = markers("term", 20)
    await ask_many(w, run, PRIVATE, sent)
    await asyncio.sleep(1.0)
    signalled = time.monotonic()
    run.signal()
    await run.stopped()
    took = time.monotonic() - signalled
    result = await settled(w.slack, sent, timeout_s=5)
    failures = [] if run.returncode == 0 else [f"exit code {run.returncode}"]
    if result.answered != len(sent):
        failures.append(f"{len(sent) - result.answered} acknowledged requests not answered")
    return Row("sigterm", result, f"exit {run.returncode} {took:.1f} s after SIGTERM", failures)


async def two_replicas(w: World) -> Row:
    w.closed.delay_s = 0.5
    env = w.env()
    first, second = await w.serve(env), await w.serve(env)
    events = {f"twin{i:04d}": mention_event(f"question twin{i:04d}", PUBLIC) for i in range(20)}
    async with aiohttp.ClientSession() as session:
        a = SlackSender(session, f"{first.base_url}/slack/events")
        b = SlackSender(session, f"{second.base_url}/slack/events")
        await asyncio.gather(
            *(a.event(e) for e in events.values()),
            *(b.event(e, headers=RETRY) for e in events.values()),
        )
    threads = {m: str(e["event"]["ts"]) for m, e in events.items()}
    result = await settled(w.slack, list(events), timeout_s=30, threads_of=threads)
    return Row("two-replicas", result, "each event delivered to both, the second as a retry")


SCENARIOS: dict[str, Callable[[World], Awaitable[Row]]] = {
    "load-200": load_200,
    "slack-429": slack_429,
    "malformed": malformed,
    "redis-restart": redis_restart,
    "model-hang": model_hang,
    "sigterm": sigterm,
    "two-replicas": two_replicas,
}


def print_table(rows: list[Row]) -> None:
    head = f"{'fault':<14}{'sent':>6}{'answered':>10}{'told':>6}{'lost':>6}{'dup':>5}  ok    note"
    print(head)
    for r in rows:
        t = r.tally
        ok = "ok" if r.ok else "FAIL"
        print(
            f"{r.scenario:<14}{t.sent:>6}{t.answered:>10}{t.told:>6}{len(t.lost):>6}"
            f"{len(t.duplicated):>5}  {ok:<5} {'; '.join([r.note, *r.failures])}"
        )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="hearthbot-chaos-"))
    rows: list[Row] = []
    started = time.monotonic()
    for name, scenario in SCENARIOS.items():
        if args.only and name not in args.only:
            continue
        async with world(name, logs) as w:
            rows.append(await scenario(w))
        print(f"... {name} done", file=sys.stderr)
    print_table(rows)
    print(f"({time.monotonic() - started:.0f} s; serve logs in {logs})")
    if args.json:
        data: list[dict[str, Any]] = [
            {"scenario": r.scenario, **r.tally.row(), "ok": r.ok, "note": r.note,
             "failures": r.failures}
            for r in rows
        ]  # fmt: skip
        args.json.write_text(json.dumps(data, indent=2))
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
