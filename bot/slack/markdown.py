"""Model-written Markdown for Slack: made inert, and cut into pieces that fit Slack's limits
without breaking a code block or a word. Pure functions; no I/O.

Slack renders `markdown_text` (and the `markdown` block) as standard Markdown. Two things a
model can be steered into writing must not reach it live: Slack's control sequences
(`<!channel>`, `<@U…>`, `<https://evil|innocent words>`), which `escape_untrusted` makes
inert as it does for mrkdwn, and Markdown links whose words hide where they go
(`[your invoice](https://evil.example)`), which are rewritten to show their address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.slack.formatting import escape_untrusted

# A fence line (CommonMark): up to three spaces, then three or more backticks or tildes.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
# `[words](address "title")` and `![words](address)`; bounded, and no class can overlap the
# next, so a line is matched in linear time whatever it holds.
_LINK = re.compile(
    r"(!?)\[([^\[\]\n]{0,1000})\]"  # [words]
    r"\(\s{0,3}([^\s()<>]{1,2000})(?:\s{1,3}\"[^\"\n]{0,300}\")?\s{0,3}\)"  # (address "title")
)
# A reference definition (`[words]: address`) would turn `[words]` anywhere into a link.
_REFERENCE = re.compile(r"(?m)^( {0,3})\[([^\]\n]{1,1000})\]:")
# What is left of a link that was cut in two: `](` would join the halves again.
_LINK_MIDDLE = re.compile(r"\]\(")


# Fences with longer markers are left alone: closing one needs as many characters again.
_MAX_MARKER = 32
# The opening line repeated when a code block continues in the next piece (its language).
_MAX_REOPEN = 60
# The smallest piece `split_markdown` makes: room for a reopened fence, a line, a closer.
MIN_PIECE = 200


@dataclass(frozen=True)
class Fence:
    """An open fenced code block: its marker and the line that opens it again."""

    char: str
    length: int
    line: str

    @property
    def closer(self) -> str:
        return self.char * self.length


def open_fence(text: str, fence: Fence | None = None) -> Fence | None:
    """The fenced code block `text` ends inside (given the one it starts inside), or None."""
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if m is None:
            continue
        marker, info = m.group(1), m.group(2)
        if fence is None:
            if (marker[0] == "`" and "`" in info) or len(marker) > _MAX_MARKER:
                continue  # a backtick fence's info string has no backtick
            fence = Fence(marker[0], len(marker), (marker + info.strip())[:_MAX_REOPEN])
        elif marker[0] == fence.char and len(marker) >= fence.length and not info.strip():
            fence = None
    return fence


def cut_point(text: str, limit: int, start: int = 0) -> int:
    """Where to cut `text` so its head holds at most `limit` characters, and more than
    `start`: after the last paragraph break, else the last line break, else the last space;
    inside a word only when one word is longer than the limit."""
    if len(text) <= limit:
        return len(text)
    for sep, floor in (("\n\n", limit // 2), ("\n", limit // 4), (" ", start)):
        at = text.rfind(sep, start, limit - len(sep) + 1)
        if at >= max(start, floor) and at + len(sep) > start:
            return at + len(sep)
    return max(limit, start + 1)


def split_markdown(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at paragraph, line or word
    boundaries. A code block that must be cut is closed at the end of one piece and opened
    again (with its language) at the start of the next, so every piece renders on its own."""
    if limit < MIN_PIECE:
        raise ValueError(f"a piece must hold at least {MIN_PIECE} characters")
    pieces: list[str] = []
    fence: Fence | None = None
    rest = text
    while True:
        reopen = fence.line + "\n" if fence else ""
        current = reopen + rest
        if len(current) <= limit:
            if rest.strip():
                pieces.append(current)
            break
        room = limit
        while True:
            cut = cut_point(current, room, start=len(reopen))
            inside = open_fence(current[len(reopen) : cut], fence)
            if inside is None:
                head = current[:cut].rstrip()
            else:
                head = current[:cut].rstrip("\n") + "\n" + inside.closer
            if len(head) <= limit:
                break
            room -= len(head) - limit
        if head[len(reopen) :].strip():
            pieces.append(head)
        fence = inside
        rest = current[cut:]
        rest = rest.removeprefix("\n") if fence else rest.lstrip("\n")
    return pieces


def reveal_links(text: str) -> str:
    """Markdown links shown with their address, so no words can hide where a link goes."""

    def shown(m: re.Match[str]) -> str:
        words, address = m.group(2).strip(), m.group(3)
        if not words or words == address or address.endswith(words):
            return address
        return f"{words} ({address})"

    text = _LINK.sub(shown, text)
    text = _REFERENCE.sub(lambda m: f"{m.group(1)}\\[{m.group(2)}]:", text)
    return _LINK_MIDDLE.sub("]\\(", text)


def inert_markdown(text: str) -> str:
    """Model-written Markdown made safe to send as `markdown_text`."""
    return reveal_links(escape_untrusted(text))
