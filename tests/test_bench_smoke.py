"""The benchmark's smoke run (CI): `bench/run.py` runs end to end, steady and burst, with
every answer delivered once. No timing is asserted: figures are read from its output."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAST_MODEL = ["--first-token-s", "0.1", "--words-per-second", "50", "--answer-words", "12"]


@pytest.mark.parametrize(
    "shape",
    [["--mode", "steady", "--requests", "9", "--concurrency", "3"],
     ["--mode", "burst", "--requests", "6", "--concurrency", "6"]],
)  # fmt: skip
async def test_the_benchmark_runs_and_loses_nothing(shape: list[str]) -> None:
    bench = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", *shape, *FAST_MODEL,
        "--timeout-s", "60",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, err = await asyncio.wait_for(bench.communicate(), 180)
    assert bench.returncode == 0, err.decode()[-2000:]
    figures = json.loads(out)
    requests = int(shape[shape.index("--requests") + 1])
    assert (figures["answered"], figures["lost"], figures["duplicated"]) == (requests, 0, 0)
    # Every figure the README's table quotes is there.
    for key in ("ack", "overhead", "first_text_minus_model_first_token"):
        assert figures[key]["p99_ms"] is not None
    assert figures["peak_rss_mib"] > 0
    assert figures["detection_ms_per_kb"]["readme_and_prompts"] > 0
