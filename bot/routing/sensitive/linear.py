"""Operators' custom patterns, run by RE2 so that none can freeze the bot.

Python's `re` backtracks: `(\\w+\\s?)+:` took 40 s on one 25-word message. RE2 (Google's
engine, through the `google-re2` package) guarantees time linear in the text for every
pattern it accepts, and refuses the features that need backtracking (look-arounds,
back-references), so a policy file is checked once, at start-up, and then cannot stall a
request whatever the message. Our own built-in patterns stay on `re`: they use look-behinds,
and their worst cases are measured by the tests instead.
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


# RE2's own memory budget per pattern (its default is 8 MiB); a pattern that needs more to
# compile is refused rather than run slowly.
_MAX_MEMORY = 32 * 1024 * 1024


def prefer_linear(pattern: re.Pattern[str]) -> re.Pattern[str] | LinearPattern:
    """The same pattern under RE2 when RE2 can run it, else the `re` pattern as it is.

    For patterns written for `re` by others (detect-secrets' plugins): most compile under RE2
    and then cannot backtrack whatever the text; the rest (look-arounds) keep `re`, and the
    detector's tests measure them. RE2's `\\w`, `\\d` and `\\b` are ASCII-only, which suits
    key and token formats (ASCII by definition), not prose patterns.
    """
    if pattern.flags & re.VERBOSE and re.search(r"\s|#", pattern.pattern):
        return pattern
    try:
        return compile_linear(pattern.pattern, ignore_case=bool(pattern.flags & re.IGNORECASE))
    except ValueError:
        return pattern


def compile_linear(pattern: str, *, ignore_case: bool) -> LinearPattern:
    """Compile with RE2; ValueError with RE2's reason when the pattern is not supported."""
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    options.max_mem = _MAX_MEMORY
    try:
        compiled: LinearPattern = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(
            f"not a pattern that runs in linear time ({reason}); look-arounds and "
            "back-references are not supported"
        ) from None
    return compiled
