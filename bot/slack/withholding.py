"""Withholding from what the bot publishes the sensitive data a person wrote privately.

A slash command's text is seen by no one until the bot posts it. When it holds sensitive
data, the published answer (or email summary) must carry none of it, however the model
rewrote it. Two nets: every finding of the withheld categories (the detector runs on what is
about to be published), and every private value itself, matched on its letters and digits
whatever separates them (`4539.1488…`, `4539_1488`, across a line break, a password
repeated in a sentence); and, for values made mostly of digits (a card, an IBAN, a phone
number), any 8 of their characters in a row, whatever is around or between them, so that
most of a number cannot be published either (`&#52;539 1488 0343 6467` shows 15 of its 16
digits). Text with nothing to withhold is published exactly as written. Pure.
"""

from __future__ import annotations

import itertools
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
_MAX_GAP = 3
_GAP = rf"[\W_]{{0,{_MAX_GAP}}}"


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


# A run of this many characters of a mostly-digit value is withheld wherever it appears.
WINDOW = 8
_MIN_WINDOWED_DIGITS = 6


def _windows(values: Sequence[str]) -> set[str]:
    needles: set[str] = set()
    for value in values:
        chars = "".join(c.lower() for c in value if c.isalnum())
        digits = sum(c.isdigit() for c in chars)
        if len(chars) > WINDOW and digits >= _MIN_WINDOWED_DIGITS and digits * 2 >= len(chars):
            needles.update(chars[i : i + WINDOW] for i in range(len(chars) - WINDOW + 1))
    return needles


def window_spans(clean: str, values: Sequence[str]) -> list[tuple[int, int]]:
    """Where any 8 characters in a row of a mostly-digit value appear in `clean`, counting
    only its letters and digits (whatever separates them)."""
    needles = _windows(values)
    if not needles:
        return []
    positions = [i for i, c in enumerate(clean) if c.isalnum()]
    squeezed = "".join(clean[i].lower()[:1] for i in positions)
    spans = []
    for needle in needles:
        at = squeezed.find(needle)
        while at >= 0:
            run = positions[at : at + WINDOW]
            # As for whole values: at most three separators between two characters.
            if all(b - a <= _MAX_GAP + 1 for a, b in itertools.pairwise(run)):
                spans.append((run[0], run[-1] + 1))
            at = squeezed.find(needle, at + 1)
    return spans


# How far back a withheld value or finding is looked for when only part of a text is
# published (a streamed answer): the context a detector reads before a value ("password:").
CONTEXT_CHARS = 512


def withhold_text(
    detector: SensitiveDetector,
    text: str,
    categories: Collection[str],
    values: Sequence[str] = (),
) -> str:
    """`text` with every finding of `categories` and every private value replaced."""
    return withhold_segment(detector, text, 0, len(text), categories, values)


def withhold_segment(
    detector: SensitiveDetector,
    text: str,
    start: int,
    end: int,
    categories: Collection[str],
    values: Sequence[str] = (),
) -> str:
    """`text[start:end]` withheld as part of `text`: findings are looked for with what comes
    before and after it, and one that crosses either end is withheld up to that end."""
    segment = text[start:end]
    if not segment or (not categories and not values):
        return segment
    before = normalize(text[max(0, start - CONTEXT_CHARS) : start])
    clean = normalize(segment)
    after = normalize(text[end : end + CONTEXT_CHARS])
    whole = before + clean + after
    found = [(s, e) for s, e, _ in detector.spans(whole, only=categories)]
    pattern = value_pattern(values)
    if pattern is not None:
        found += [(m.start(), m.end()) for m in pattern.finditer(whole)]
    found += window_spans(whole, values)
    low, high = len(before), len(before) + len(clean)
    spans = [
        (max(s, low) - low, min(e, high) - low, WITHHELD_MARK)
        for s, e in found
        if e > low and s < high
    ]
    if not spans:
        return segment
    return replace_spans(clean, spans)


def longest_match(values: Sequence[str]) -> int:
    """The most characters a private value can take in text, separators included."""
    return max((len(v) * (1 + 3) for v in values), default=0)


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
