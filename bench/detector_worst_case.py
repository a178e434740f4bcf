"""The detector's worst case on adversarial input, per finder and overall.

Scans every prefix x repeated-token family of `bot.routing.sensitive.adversarial` (and the
shapes that were slow before) at 10, 20 and 40 KB, in CPU time of one core, best of three,
and prints the worst ms/KB found for each finder and for the whole detector, with the input
that caused it and the machine it ran on.

    .venv/bin/python bench/detector_worst_case.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

from bot.routing.sensitive import Category, DetectorConfig, SensitiveDetector
from bot.routing.sensitive.adversarial import KNOWN_SLOW, PREFIXES, TOKENS, repeated
from bot.routing.sensitive.detector import _FINDERS
from bot.routing.sensitive.normalize import normalize

DETECTOR = SensitiveDetector(DetectorConfig(categories=frozenset(Category)))


def cpu_ms(scan: Callable[[str], object], text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.thread_time()
        scan(text)
        best = min(best, time.thread_time() - started)
    return best * 1000


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="40 KB only, no prefixes")
    args = parser.parse_args()
    sizes = [40_000] if args.quick else [10_000, 20_000, 40_000]
    prefixes = [""] if args.quick else list(PREFIXES)
    families: list[tuple[str, Callable[[int], str]]] = [
        (f"{p!r} + {t!r}*n", lambda n, p=p, t=t: repeated(p, t, n))
        for p in prefixes
        for t in TOKENS
    ]
    families += list(KNOWN_SLOW.items())
    worst: dict[str, tuple[float, str]] = {}

    def note(target: str, ms_per_kb: float, family: str) -> None:
        if ms_per_kb > worst.get(target, (-1.0, ""))[0]:
            worst[target] = (ms_per_kb, family)

    for name, make in families:
        for size in sizes:
            text = make(size)
            kb = size / 1000
            note(
                "detector (all categories)", cpu_ms(DETECTOR.findings, text) / kb, f"{name} @{size}"
            )
            clean = normalize(text)
            for category, finder in _FINDERS.items():
                ms = cpu_ms(lambda t, f=finder: list(f(t)), clean, runs=1) / kb
                note(f"find {category.value}", ms, f"{name} @{size}")

    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    print(f"{len(families)} families x {len(sizes)} sizes; CPU time of one core")
    print(f"{'target':28s} {'worst ms/KB':>11s}  input")
    for target, (ms, family) in sorted(worst.items(), key=lambda x: -x[1][0]):
        print(f"{target:28s} {ms:11.2f}  {family}")


if __name__ == "__main__":
    main()
