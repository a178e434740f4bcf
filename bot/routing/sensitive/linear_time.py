"""Built-in secret patterns under RE2 wherever RE2 can run them.

Most of detect-secrets' regex plugins backtrack on adversarial text (its OpenAI pattern
`sk-[A-Za-z0-9-_]*…` took 4.7 s on 40 KB of `sk-sk-sk-`). RE2 (Google's engine, through the
`google-re2` package) runs every pattern it accepts in time linear in the text. Its `\\w`,
`\\d` and `\\b` are ASCII-only, which suits key and token formats (ASCII by definition) and
not prose, so it is used for these patterns only; the ones RE2 refuses (look-arounds) keep
`re`, start at a literal, and bound every repetition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

import re2


class LinearMatch(Protocol):
    """What the detector reads of a match."""

    def start(self) -> int: ...
    def end(self) -> int: ...


class LinearPattern(Protocol):
    """A compiled pattern that finds matches in linear time."""

    def finditer(
        self, text: str, pos: int | None = ..., endpos: int | None = ...
    ) -> Iterator[LinearMatch]: ...


def prefer_linear(pattern: re.Pattern[str]) -> re.Pattern[str] | LinearPattern:
    """The same pattern under RE2 when RE2 can run it, else the `re` pattern as it is."""
    if pattern.flags & re.VERBOSE and re.search(r"\s|#", pattern.pattern):
        return pattern
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not pattern.flags & re.IGNORECASE
    try:
        compiled: LinearPattern = re2.compile(pattern.pattern, options)
    except re2.error:
        return pattern
    return compiled
