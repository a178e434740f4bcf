"""`hearthbot doctor`: one line per check, a hint under each that is not green."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

from bot.doctor import Result, check_environment, diagnose
from bot.settings import ConfigError, load_settings

MARKS = {"ok": "✓", "warn": "!", "fail": "✗"}
COLOURS = {"ok": "\033[32m", "warn": "\033[33m", "fail": "\033[31m"}
RESET = "\033[0m"


async def doctor(out: TextIO, environ: Mapping[str, str] | None = None) -> int:
    """Print the report; 1 when any check failed, else 0."""
    env = os.environ if environ is None else environ
    try:
        settings = load_settings()
    except ConfigError as exc:
        # Nothing else can be judged without valid settings, except the environment.
        results = [
            Result("fail", "Settings", str(exc), "fix the variables named (see .env.example)"),
            *check_environment(env),
        ]
    else:
        results = [
            Result("ok", "Settings", "valid (the environment, then .env)"),
            *await diagnose(settings, env),
        ]
    colour = out.isatty() and "NO_COLOR" not in env
    for result in results:
        out.write(render(result, colour=colour))
    failed = sum(r.status == "fail" for r in results)
    warned = sum(r.status == "warn" for r in results)
    out.write(f"\n{failed} failed, {warned} warnings, {len(results) - failed - warned} ok\n")
    return 1 if failed else 0


def render(result: Result, *, colour: bool = False) -> str:
    """`✓ name: detail`, and `  → hint` beneath a line that is not ok. Pure."""
    mark = MARKS[result.status]
    if colour:
        mark = f"{COLOURS[result.status]}{mark}{RESET}"
    line = f"{mark} {result.name}: {result.detail}\n"
    if result.status != "ok" and result.hint:
        line += f"    → {result.hint}\n"
    return line
