"""What of a model's answer may be published, piece by piece as it streams. Pure; no I/O.

Every piece that leaves is model text made inert for Slack (`inert_markdown`) and, when the
asker wrote sensitive data privately, withheld (`withhold_segment`). A streamed piece cannot
be taken back, so a piece is only released when nothing after it can change it:
- it ends at a line break (or, in a long line, a space), never inside a word, a value or a
  Markdown link that is still being written; the answer's first words leave at a space,
  so the reader sees the answer begin as soon as the model begins it;
- when there is something to withhold, the last `hold` characters stay back, more than any
  finding or private value can span, so a card number is never sent half-written.
Releasing the same text in any number of pieces publishes the same words.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bot.routing.sensitive import SensitiveDetector
from bot.slack.markdown import Fence, MarkdownSanitizer
from bot.slack.withholding import longest_match, withhold_segment

# More than any built-in finding spans (an IBAN with spaces, an email address, a key).
FINDING_HOLD = 400
# A line longer than this is released at its last space, not held to its end.
LONG_LINE = 300


class Publication:
    """The answer as it streams: the model's raw text in, publishable Markdown out."""

    def __init__(
        self,
        detector: SensitiveDetector,
        categories: Collection[str] = frozenset(),
        values: Sequence[str] = (),
    ) -> None:
        self._detector = detector
        self._categories = categories
        self._values = tuple(values)
        withholding = bool(categories or values)
        self._hold = max(FINDING_HOLD, longest_match(values)) if withholding else 0
        self._raw = ""
        self._released = 0
        self._sanitizer = MarkdownSanitizer()

    @property
    def raw(self) -> str:
        """Everything the model wrote so far."""
        return self._raw

    @property
    def open_fence(self) -> Fence | None:
        """The code block what was released so far ends inside, if any."""
        return self._sanitizer.fence

    def feed(self, text: str) -> None:
        """More of the model's answer."""
        self._raw += text

    def release(self, *, final: bool = False) -> str:
        """Publishable Markdown for what can be released now (everything, when `final`)."""
        end = len(self._raw) if final else self._boundary()
        if end <= self._released:
            return ""
        segment = withhold_segment(
            self._detector, self._raw, self._released, end, self._categories, self._values
        )
        self._released = end
        follows = "" if final else self._raw[end : end + 1] or None
        return self._sanitizer.feed(segment, follows)

    def _boundary(self) -> int:
        """The end of the longest releasable text: see the module's docstring."""
        start, raw = self._released, self._raw
        limit = len(raw) - self._hold
        if limit <= start:
            return start
        line_end = raw.rfind("\n", start, limit)
        end = line_end + 1
        if line_end < 0:
            if start > 0 and limit - start < LONG_LINE:
                return start
            end = raw.rfind(" ", start, limit) + 1
            if end <= start:
                return start
        # A link being written in a long line released at a space (`[words`, `[words]`,
        # `[words](addr`) waits for its end, so it is shown whole with its address (were it
        # cut, its `](` would be escaped anyway). Released lines are whole: nothing waits.
        opened = raw.rfind("[", max(start, raw.rfind("\n", start, end) + 1), end)
        if opened >= 0 and raw[end - 1 : end] != "\n":
            rest = raw[opened:end]
            closed = rest.find("]")
            if (
                closed < 0
                or closed == len(rest.rstrip()) - 1
                or (rest[closed + 1 : closed + 2] == "(" and ")" not in rest[closed:])
            ):
                end = opened
        return max(end, start)
