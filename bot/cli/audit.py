"""`hearthbot audit tail|stats`: read the routing audit stream."""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import asdict
from typing import TextIO

from bot.audit import AuditLog, AuditRecord, summarize
from bot.redis_client import open_redis
from bot.settings import ConfigError, Settings

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_period(text: str) -> float:
    """`30m`, `24h`, `7d` (or plain seconds) as seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise ConfigError(f"--since: {text!r} is not a period like 30m, 24h or 7d")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def format_record(r: AuditRecord) -> str:
    """One line per decision, for people."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.time))
    if r.kind == "feedback":
        return (
            f"{stamp}  {r.route:<6} feedback {r.vote or '-':<4} {r.answered_by or r.model:<24} "
            f"{r.channel_kind or '-'} {r.channel}/{r.thread} {r.user}  {','.join(r.reasons)}"
        )
    tokens = f"{r.input_tokens or '-'}/{r.output_tokens or '-'} tok"
    return (
        f"{stamp}  {r.route:<6} {r.outcome:<8} {r.answered_by or r.model:<24} "
        f"{r.latency_ms:>6} ms  {tokens:<14} {r.channel}/{r.thread} {r.user}  "
        f"{','.join(r.reasons)}"
    )


async def audit(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Run `audit tail` or `audit stats`."""
    client = open_redis(settings)
    log = AuditLog(client, prefix=settings.redis_prefix, max_entries=settings.audit_max_entries)
    try:
        if args.audit_command == "tail":
            for record in await log.tail(args.n):
                line = json.dumps(asdict(record)) if args.json else format_record(record)
                print(line, file=out)
            return 0
        period = parse_period(args.since)
        summary = summarize(await log.since(period))
        if args.json:
            print(json.dumps(summary, indent=2), file=out)
            return 0
        print(f"last {args.since}: {summary['requests']} requests", file=out)
        for title in ("by_route", "by_outcome", "by_model", "by_reason"):
            counts = ", ".join(f"{k} {v}" for k, v in summary[title].items()) or "-"
            print(f"  {title.removeprefix('by_')}: {counts}", file=out)
        lat = summary["latency_ms"]
        print(
            f"  latency: p50 {lat['p50']} ms, p95 {lat['p95']} ms, mean {lat['mean']} ms", file=out
        )
        tok = summary["tokens"]
        print(f"  tokens: {tok['input']} in, {tok['output']} out", file=out)
        feedback = summary["feedback"]
        if not feedback:
            print("  feedback: none yet", file=out)
        for key, votes in feedback.items():
            print(
                f"  feedback {key}: {votes['good']} good, {votes['bad']} bad "
                f"({votes['satisfaction']:.0%} satisfied)",
                file=out,
            )
        return 0
    finally:
        await client.aclose()
