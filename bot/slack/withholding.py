"""Withholding from what the bot publishes the sensitive data a person wrote privately.

A slash command's text is seen by no one until the bot posts it. When it holds sensitive
data, the published answer (or email summary) must not carry data of those categories,
however the model rewrote it: `4539148803436467` for `4539 1488 0343 6467`, full-width
digits, an NBSP inside. So the detector runs on what is about to be published, and every
finding of a withheld category is replaced, not just the literal text. Pure.
"""

from __future__ import annotations

from collections.abc import Collection

from bot.customer_email.schema import EmailSummary
from bot.routing.sensitive import SensitiveDetector

WITHHELD_MARK = "[withheld]"


def withhold_text(detector: SensitiveDetector, text: str, categories: Collection[str]) -> str:
    """`text` with every finding of `categories` replaced by WITHHELD_MARK."""
    if not categories or not text:
        return text
    return detector.redact(text, only=categories, mark=WITHHELD_MARK)


def withhold_summary(
    detector: SensitiveDetector, summary: EmailSummary, categories: Collection[str]
) -> EmailSummary:
    """Every free-text field of a summary, withheld the same way."""

    def clean(value: str | None) -> str | None:
        return None if value is None else withhold_text(detector, value, categories)

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
