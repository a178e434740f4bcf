#!/usr/bin/env python3
"""Measure hearthbot's sensitive-content detector.

Prints precision and recall per category and overall, the false-positive rate on ordinary
engineering chatter, and the scanning speed, from:
- tests/data/pii: a labelled public corpus (presidio-research's synthetic set, MIT);
- tests/data/detector/positives.jsonl: secrets, dates of birth and Unicode tricks;
- tests/data/detector/negatives.txt, plus chatter generated here from templates (seeded).

Counts are per message: a message labelled with a category is found when the detector
reports that category anywhere in it. `--json` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.routing.sensitive import DEFAULT_CATEGORIES, Category, DetectorConfig, SensitiveDetector  # noqa: E402

DATA = ROOT / "tests" / "data"
CORPUS_LABELS = {
    "EMAIL_ADDRESS": Category.EMAIL,
    "PHONE_NUMBER": Category.PHONE,
    "CREDIT_CARD": Category.CREDIT_CARD,
    "IBAN_CODE": Category.IBAN,
    "US_SSN": Category.NATIONAL_ID,
    "IP_ADDRESS": Category.IP_ADDRESS,
    "STREET_ADDRESS": Category.STREET_ADDRESS,
    "PERSON": Category.PERSON_NAME,
}


@dataclass
class Sample:
    text: str
    labels: set[str]
    source: str
    # Categories neither right nor wrong here: the corpus labels dates of birth only as
    # DATE_TIME, so a date of birth found in a record with a DATE_TIME span is not counted.
    ignore: set[str] = field(default_factory=set)


@dataclass
class Scores:
    tp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)


def corpus_samples() -> list[Sample]:
    records = json.loads((DATA / "pii" / "synth_dataset_v2.half.json").read_text())
    return [
        Sample(
            r["full_text"],
            {
                CORPUS_LABELS[s["entity_type"]].value
                for s in r["spans"]
                if s["entity_type"] in CORPUS_LABELS
            },
            "corpus",
            {Category.DATE_OF_BIRTH.value}
            if any(s["entity_type"] == "DATE_TIME" for s in r["spans"])
            else set(),
        )
        for r in records
    ]


def positive_samples() -> list[Sample]:
    lines = (DATA / "detector" / "positives.jsonl").read_text().splitlines()
    return [Sample(r["text"], set(r["categories"]), "positives") for r in map(json.loads, lines)]


def negative_samples(generated: int, seed: int) -> list[Sample]:
    lines = (DATA / "detector" / "negatives.txt").read_text().splitlines()
    written = [
        Sample(x.strip(), set(), "negatives") for x in lines if x.strip() and not x.startswith("#")
    ]
    return written + [Sample(t, set(), "generated") for t in generate_chatter(generated, seed)]


def generate_chatter(count: int, seed: int) -> list[str]:
    """Engineering chatter full of numbers that are not sensitive, from templates."""
    rnd = random.Random(seed)
    hexs = lambda n: "".join(rnd.choice("0123456789abcdef") for _ in range(n))  # noqa: E731
    ver = lambda: f"{rnd.randint(0, 30)}.{rnd.randint(0, 40)}.{rnd.randint(0, 99)}"  # noqa: E731
    uuid = lambda: f"{hexs(8)}-{hexs(4)}-{hexs(4)}-{hexs(4)}-{hexs(12)}"  # noqa: E731
    ts = lambda: (  # noqa: E731
        f"20{rnd.randint(20, 27)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        f"T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}Z"
    )
    key = lambda: "".join(rnd.choice(string.ascii_uppercase) for _ in range(rnd.randint(2, 6)))  # noqa: E731
    templates = [
        lambda: f"released {ver()} with the fix for {key()}-{rnd.randint(10, 99999)}",
        lambda: f"commit {hexs(40)} broke the build, reverted in {hexs(7)}",
        lambda: f"request {uuid()} took {rnd.randint(1, 90000)} ms at {ts()}",
        lambda: (
            f"service on port {rnd.randint(1024, 65535)} is answering, p99 {rnd.randint(1, 900)} ms"
        ),
        lambda: (
            f"invoice total ${rnd.randint(1, 99999):,}.{rnd.randint(0, 99):02d} for {rnd.randint(1, 500)} seats"
        ),
        lambda: f"ticket #{rnd.randint(1000, 9999999)} assigned, sprint {rnd.randint(1, 200)}",
        lambda: f"unix time {rnd.randint(1_500_000_000, 1_900_000_000)} is when it started",
        lambda: (
            f"job {rnd.randint(100000, 99999999)} exited {rnd.randint(0, 255)} after {rnd.randint(1, 59)}m {rnd.randint(1, 59)}s"
        ),
        lambda: (
            f"upgrade from {ver()} to {ver()} needs {rnd.randint(1, 64)} GiB and {rnd.randint(1, 96)} cores"
        ),
        lambda: (
            f"the batch sizes {rnd.choice([16, 32, 64])} {rnd.choice([128, 256])} {rnd.choice([512, 1024])} all fit in memory"
        ),
        lambda: (
            f"dashboard {rnd.randint(1, 9999)} panel {rnd.randint(1, 99)} shows {rnd.randint(1, 100)}% at {rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}"
        ),
        lambda: (
            f"build {rnd.randint(1, 99999)} on runner {rnd.randint(1, 64)} took {rnd.randint(1, 59)} minutes"
        ),
        lambda: f"image sha256:{hexs(64)} pushed as {ver()}",
        lambda: f"{rnd.randint(1, 9_999_999):,} rows migrated, {rnd.randint(0, 9999)} skipped",
        lambda: (
            f"deadline moved to {rnd.randint(1, 28)}/{rnd.randint(1, 12)}/{rnd.randint(2025, 2028)}"
        ),
        lambda: (
            f"coverage {rnd.randint(50, 99)}.{rnd.randint(0, 9)}% on {rnd.randint(100, 5000)} tests, {rnd.randint(0, 40)} skipped"
        ),
        lambda: f"latency buckets {', '.join(str(rnd.randint(1, 5000)) for _ in range(6))} ms",
        lambda: (
            f"the SKU {rnd.randint(10**12, 10**13 - 1)} is out of stock in warehouse {rnd.randint(1, 40)}"
        ),
        lambda: (
            f"slack ts {rnd.randint(1_600_000_000, 1_800_000_000)}.{rnd.randint(0, 999999):06d} is the message to link"
        ),
        lambda: (
            f"memory {rnd.randint(64, 4096)}Mi cpu {rnd.randint(100, 4000)}m replicas {rnd.randint(1, 30)}"
        ),
    ]
    return [rnd.choice(templates)() for _ in range(count)]


def score(detector: SensitiveDetector, samples: list[Sample], categories: set[str]) -> Scores:
    s = Scores()
    for sample in samples:
        found = (detector.categories([sample.text]) & categories) - sample.ignore
        labels = (sample.labels & categories) - sample.ignore
        for c in labels & found:
            s.tp[c] += 1
        for c in labels - found:
            s.fn[c] += 1
        for c in found - labels:
            s.fp[c] += 1
        any_label, any_found = bool(labels), bool(found)
        s.tp["overall"] += any_label and any_found
        s.fn["overall"] += any_label and not any_found
        s.fp["overall"] += any_found and not any_label
    return s


def ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def measure_speed(detector: SensitiveDetector, texts: list[str], rounds: int) -> float:
    """Milliseconds of CPU per KB, the best of `rounds` passes (the least disturbed one)."""
    size_kb = sum(len(t.encode()) for t in texts) / 1024
    detector.categories(texts)  # warm the regex caches
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for text in texts:
            detector.findings(text)
        best = min(best, time.process_time() - started)
    return best * 1000 / size_kb


def as_documents(texts: list[str], size: int = 2048) -> list[str]:
    """Messages joined into ~2 KB documents: a question with its thread and memory."""
    documents: list[str] = []
    current: list[str] = []
    for text in texts:
        current.append(text)
        if sum(len(t) + 1 for t in current) >= size:
            documents.append("\n".join(current))
            current = []
    if current:
        documents.append("\n".join(current))
    return documents


def evaluate(generated: int = 1000, seed: int = 7, speed_rounds: int = 5) -> dict[str, object]:
    default = SensitiveDetector()
    categories = {c.value for c in DEFAULT_CATEGORIES}
    positives = corpus_samples() + positive_samples()
    negatives = negative_samples(generated, seed)
    scores = score(default, positives + negatives, categories)
    per_category = {}
    for c in sorted(categories | {"overall"}):
        tp, fn, fp = scores.tp[c], scores.fn[c], scores.fp[c]
        per_category[c] = {
            "support": tp + fn,
            "recall": ratio(tp, tp + fn),
            "precision": ratio(tp, tp + fp),
        }
    flagged = [s for s in negatives if default.categories([s.text])]
    names = SensitiveDetector(DetectorConfig(categories=frozenset({Category.PERSON_NAME})))
    name_scores = score(names, corpus_samples(), {Category.PERSON_NAME.value})
    return {
        "categories": per_category,
        "negatives": {
            "count": len(negatives),
            "flagged": len(flagged),
            "false_positive_rate": ratio(len(flagged), len(negatives)),
            "examples": [s.text for s in flagged[:10]],
        },
        "person_name_when_enabled": {
            "recall": ratio(
                name_scores.tp["person_name"],
                name_scores.tp["person_name"] + name_scores.fn["person_name"],
            ),
            "precision": ratio(
                name_scores.tp["person_name"],
                name_scores.tp["person_name"] + name_scores.fp["person_name"],
            ),
        },
        "ms_per_kb_messages": round(
            measure_speed(default, [s.text for s in positives + negatives], speed_rounds), 3
        ),
        "ms_per_kb_documents": round(
            measure_speed(
                default, as_documents([s.text for s in positives + negatives]), speed_rounds
            ),
            3,
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--generated", type=int, default=1000, help="generated negatives")
    args = parser.parse_args()
    result = evaluate(args.generated)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(f"{'category':<16}{'support':>9}{'recall':>9}{'precision':>11}")
    for name, row in result["categories"].items():  # type: ignore[union-attr]
        print(
            f"{name:<16}{row['support']:>9}{row['recall'] or 0:>9.3f}{row['precision'] or 0:>11.3f}"
        )
    neg = result["negatives"]
    print(
        f"\nnegatives: {neg['flagged']} of {neg['count']} flagged "  # type: ignore[index]
        f"(false-positive rate {neg['false_positive_rate']:.2%})"
    )  # type: ignore[index]
    for example in neg["examples"]:  # type: ignore[index]
        print(f"  flagged: {example[:100]}")
    names = result["person_name_when_enabled"]
    print(
        f"person_name (off by default), when enabled: recall {names['recall']}, "  # type: ignore[index]
        f"precision {names['precision']}"
    )  # type: ignore[index]
    print(
        f"speed (CPU time, one core): {result['ms_per_kb_messages']} ms per KB scanning messages "
        f"one by one, {result['ms_per_kb_documents']} ms per KB in ~2 KB documents"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
