"""Operators' custom patterns, run so that none can freeze the bot or slip through.

Python's `re` backtracks without limit: `(\\w+\\s?)+:` took 40 s on one 25-word message. The
`regex` package (mrab-regex, a drop-in for `re` with the same Unicode `\\w`, `\\b`, `\\d`
and `\\s`) avoids much of that backtracking and, above all, takes a `timeout`. RE2 was tried
first: it is linear, but its classes are ASCII-only, so `\\bМолния\\b` or `\\bcafé\\b` silently
stopped matching, and a pattern that fails silently fails open.

So a custom pattern is (1) compiled at start-up and tried on adversarial text, and refused
if it needs more than a moment there; and (2) run with a deadline on every message, where a
pattern that runs out of time counts as a match: the message stays on-prem.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import regex

from bot.routing.sensitive.adversarial import TOKENS, repeated

log = logging.getLogger(__name__)

# Per pattern, per text scanned. A linear pattern takes microseconds per KB.
RUN_TIMEOUT_S = 0.1
# For all custom patterns over all the texts of one request (question, thread, memory):
# past it, every pattern not yet run counts as matching, so a slow pattern costs a request
# at most this much CPU, not patterns x texts x RUN_TIMEOUT_S.
REQUEST_BUDGET_S = 0.5
# On each adversarial sample at start-up, of the length of a long Slack message.
CHECK_TIMEOUT_S = 0.1
_SAMPLE_CHARS = 20_000
# Separators of CSV, paths and lists, which the detector's own samples lack.
_EXTRA_TOKENS = ("a,", "1,", "a;", "a|", "a/", "a\t", "a=1&", "a, ", "1;")


@dataclass(frozen=True)
class BoundedPattern:
    """A compiled custom pattern with a deadline on every scan."""

    source: str
    compiled: regex.Pattern[str]

    def spans(self, text: str, timeout_s: float = RUN_TIMEOUT_S) -> Iterator[tuple[int, int]]:
        """Where it matches; the whole text when it runs out of time (fail closed)."""
        yield from self.search(text, timeout_s)[0]

    def search(
        self, text: str, timeout_s: float = RUN_TIMEOUT_S
    ) -> tuple[list[tuple[int, int]], bool]:
        """Where it matches, and whether it ran out of time (then: the whole text)."""
        try:
            if timeout_s <= 0:
                raise TimeoutError
            return [m.span() for m in self.compiled.finditer(text, timeout=timeout_s)], False
        except TimeoutError:
            log.warning(
                "a custom pattern ran out of time; the text is treated as matching it",
                extra={"pattern_chars": len(self.source), "text_chars": len(text)},
            )
            return [(0, len(text))], True


def compile_bounded(pattern: str, *, ignore_case: bool) -> BoundedPattern:
    """Compile and try a custom pattern; ValueError naming the problem when it is refused."""
    flags = regex.IGNORECASE if ignore_case else 0
    try:
        compiled = regex.compile(pattern, flags | regex.VERSION0)
    except regex.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    for token in (*TOKENS, *_EXTRA_TOKENS):
        sample = repeated("", token, _SAMPLE_CHARS)
        try:
            for _ in compiled.finditer(sample, timeout=CHECK_TIMEOUT_S):
                pass
        except TimeoutError:
            raise ValueError(
                f"backtracks catastrophically (over {CHECK_TIMEOUT_S * 1000:.0f} ms on "
                f"{_SAMPLE_CHARS} characters of {token!r}); rewrite it without nested "
                "repetition such as (a+)+ or (a|aa)+"
            ) from None
    return BoundedPattern(pattern, compiled)
