#!/usr/bin/env python3
"""Score the email summariser against tests/data/emails/eval_set.jsonl.

Uses the self-hosted model hearthbot is configured with (LOCAL_MODEL, LOCAL_BASE_URL, ...;
default: the embedded model), or the closed one with --closed. For each email it reports
whether the structured output was valid on the first try, after the repair request, or
only as a plain-text fallback, and scores intent and urgency (exact, and urgency within one
level) and the recall of the expected key facts.

    .venv/bin/python scripts/eval_summaries.py             # the configured local model
    LOCAL_MODEL=ollama:qwen2.5:7b .venv/bin/python scripts/eval_summaries.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.customer_email.parse import parse_eml, parse_pasted  # noqa: E402
from bot.customer_email.summarize import summarize_with  # noqa: E402
from bot.llm.embedded import EmbeddedModelServer  # noqa: E402
from bot.llm.models import build_closed_model, build_local_model  # noqa: E402
from bot.llm.prompts import Prompts  # noqa: E402
from bot.llm.router import model_errors  # noqa: E402
from bot.llm.safety import disable_prompt_uploads  # noqa: E402
from bot.settings import load_settings  # noqa: E402

DATA = ROOT / "tests" / "data" / "emails"
URGENCY = ["low", "medium", "high", "critical"]


def _norm(text: str) -> str:
    return re.sub(r"[\s#$€,.:]+", "", text.lower())


def fact_recalled(expected: str, facts: list[str]) -> bool:
    """An expected fact is recalled when a listed fact contains it (ignoring case, spaces,
    currency signs and punctuation)."""
    target = _norm(expected)
    return any(target in _norm(fact) for fact in facts)


async def evaluate(use_closed: bool, limit: int | None) -> dict[str, Any]:
    settings = load_settings()
    disable_prompt_uploads()  # as the app does: no LangSmith tracing of the emails
    embedded = None
    if use_closed:
        model = build_closed_model(settings)
        spec = settings.closed
        if model is None or spec is None:
            raise SystemExit("--closed needs CLOSED_MODEL")
        provider, label = spec.provider, spec.label
    else:
        spec = settings.local
        if spec.provider == "embedded":
            embedded = EmbeddedModelServer(
                settings.embedded_model_path,
                context_tokens=settings.embedded_context_tokens,
                parallel=1,
            )
            endpoint = embedded.start()
            url, key = endpoint.base_url, endpoint.api_key
        else:
            url = settings.local_url or ""
            key = settings.local_api_key.get_secret_value() if settings.local_api_key else None
        # Summaries are long answers; a slow CPU model needs time to write them.
        generous = settings.model_copy(
            update={
                "max_answer_tokens": 1200,
                "model_timeout_s": max(settings.model_timeout_s, 300),
            }
        )
        model = build_local_model(generous, url, key)
        provider, label = spec.provider, spec.label
    prompts = Prompts.load()
    rows = []
    lines = (DATA / "eval_set.jsonl").read_text().splitlines()
    for line in lines[:limit]:
        case = json.loads(line)
        email = (
            parse_eml((DATA / case["text"]).read_bytes())
            if case["format"] == "eml"
            else parse_pasted(case["text"])
        )
        started = time.monotonic()
        error = ""
        try:
            attempt = await summarize_with(
                model, provider, prompts, email_text=email.as_prompt_text(), instruction=""
            )
        except model_errors() as exc:  # a timeout or a server error counts as a failed email
            attempt = None
            error = type(exc).__name__
        seconds = time.monotonic() - started
        expected = case["expected"]
        row: dict[str, Any] = {
            "id": case["id"],
            "attempts": attempt.attempts if attempt else None,
            "seconds": round(seconds, 2),
        }
        if attempt is None:
            row["error"] = error
        summary = attempt.summary if attempt else None
        if summary is not None:
            facts = [f.value for f in summary.key_facts]
            got = URGENCY.index(summary.urgency.value)
            want = URGENCY.index(expected["urgency"])
            row.update(
                intent=summary.intent.value,
                intent_ok=summary.intent.value == expected["intent"],
                urgency=summary.urgency.value,
                urgency_ok=got == want,
                urgency_near=abs(got - want) <= 1,
                facts_found=sum(fact_recalled(f, facts) for f in expected["key_facts"]),
            )
        else:
            row.update(intent_ok=False, urgency_ok=False, urgency_near=False, facts_found=0)
        row["facts_expected"] = len(expected["key_facts"])
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    if embedded is not None:
        embedded.stop()
    n = len(rows)
    facts_expected = sum(r["facts_expected"] for r in rows)
    return {
        "model": f"{provider}:{label}",
        "emails": n,
        "valid_first_try": sum(r["attempts"] == 1 for r in rows) / n,
        "valid_after_repair": sum((r["attempts"] or 9) <= 2 for r in rows) / n,
        "plain_text_fallback": sum(r["attempts"] == 3 for r in rows) / n,
        "model_errors": sum("error" in r for r in rows),
        "intent_accuracy": sum(r["intent_ok"] for r in rows) / n,
        "urgency_accuracy": sum(r["urgency_ok"] for r in rows) / n,
        "urgency_within_one_level": sum(r["urgency_near"] for r in rows) / n,
        "key_fact_recall": sum(r["facts_found"] for r in rows) / facts_expected
        if facts_expected
        else None,
        "seconds_per_email": round(sum(r["seconds"] for r in rows) / n, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--closed", action="store_true", help="score CLOSED_MODEL instead")
    parser.add_argument("--limit", type=int, help="only the first N emails")
    args = parser.parse_args()
    result = asyncio.run(evaluate(args.closed, args.limit))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
