"""How well the email detector tells a pasted email from ordinary chat.

Emails: tests/data/emails/eval_set.jsonl (pasted ones as pasted; .eml files as their text).
Chat: tests/data/chat/greeting_messages.txt, messages that greet and sign off but are not
emails. Prints recall on emails, false positives on chat, and precision.

    .venv/bin/python scripts/eval_email_detection.py
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.customer_email.detect import looks_like_email

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def emails() -> list[tuple[str, str]]:
    found = []
    for line in (DATA / "emails" / "eval_set.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["format"] == "pasted":
            found.append((item["id"], item["text"]))
    return found


def chat() -> list[str]:
    text = (DATA / "chat" / "greeting_messages.txt").read_text(encoding="utf-8")
    return [m.strip() for m in text.split("\n---\n") if m.strip()]


def main() -> None:
    positives = emails()
    negatives = chat()
    hits = [i for i, t in positives if looks_like_email(t)]
    missed = [i for i, t in positives if not looks_like_email(t)]
    false_positives = [t for t in negatives if looks_like_email(t)]
    precision = len(hits) / max(1, len(hits) + len(false_positives))
    print(f"emails recognised: {len(hits)}/{len(positives)}  missed: {missed}")
    print(f"chat taken for email: {len(false_positives)}/{len(negatives)}")
    for text in false_positives:
        print("  FP:", text.replace("\n", " | ")[:100])
    print(f"precision: {precision:.3f}")


if __name__ == "__main__":
    main()
