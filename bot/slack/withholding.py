"""Withholding from what the bot publishes the sensitive data a person wrote privately.

A slash command's text is seen by no one until the bot posts it. When it holds sensitive
data, the published answer (or email summary) must carry none of it, however the model
rewrote it. Two nets: every finding of the withheld categories (the detector runs on what is
about to be published), and every private value itself, matched on its letters and digits
whatever separates them (`4539.1488…`, `4539_1488`, across a line break, a password
repeated in a sentence). Text with nothing to withhold is published exactly as written. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from bot.customer_email.schema import EmailSummary
from bot.routing.sensitive import SensitiveDetector
from bot.routing.sensitive.detector import replace_spans
from bot.routing.sensitive.normalize import normalize

WITHHELD_MARK = "[withheld]"
# Shorter values (a 3-digit code) would withhold ordinary words and numbers.
_MIN_VALUE_CHARS = 4
# Up to three separators of any kind between two letters or digits of a value.
_GAP = r"[\W_]{0,3}"


def value_pattern(values: Sequence[str]) -> re.Pattern[str] | None:
    """A pattern for the values' letters and digits in order, whatever lies between them."""
    alternatives = []
    for value in sorted(set(values), key=len, reverse=True):
        chars = [c for c in value if c.isalnum()]
        if len(chars) >= _MIN_VALUE_CHARS:
            alternatives.append(_GAP.join(re.escape(c) for c in chars))
    if not alternatives:
        return None
    return re.compile("|".join(alternatives), re.IGNORECASE)


def withhold_text(
    detector: SensitiveDetector,
    text: str,
    categories: Collection[str],
    values: Sequence[str] = (),
) -> str:
    """`text` with every finding of `categories` and every private value replaced."""
    if not text or (not categories and not values):
        return text
    clean = normalize(text)
    spans = [(s, e, WITHHELD_MARK) for s, e, _ in detector.spans(clean, only=categories)]
    pattern = value_pattern(values)
    if pattern is not None:
        spans += [(m.start(), m.end(), WITHHELD_MARK) for m in pattern.finditer(clean)]
    if not spans:
        return text
    return replace_spans(clean, spans)


def withhold_summary(
    detector: SensitiveDetector,
    summary: EmailSummary,
    categories: Collection[str],
    values: Sequence[str] = (),
) -> EmailSummary:
    """Every free-text field of a summary, withheld the same way."""

    def clean(value: str | None) -> str | None:
        return None if value is None else withhold_text(detector, value, categories, values)

    return summary.model_copy(
        update={
            "customer_name": clean(summary.customer_name),
            "company": clean(summary.company),
            "subject": clean(summary.subject),
            "summary": clean(summary.summary),
            "urgency_reason": clean(summary.urgency_reason),
            "language": clean(summary.language),
            "reply_draft": clean(summary.reply_draft),
            "action_items": [
                a.model_copy(update={"action": clean(a.action), "owner": clean(a.owner)})
                for a in summary.action_items
            ],
            "key_facts": [
                f.model_copy(update={"value": clean(f.value)}) for f in summary.key_facts
            ],
        }
    )
