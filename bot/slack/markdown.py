"""Model-written Markdown for Slack: made inert, and cut into pieces that fit Slack's limits
without breaking a code block or a word. Pure functions; no I/O.

Slack renders `markdown_text` (and the `markdown` block) as standard Markdown. Two things a
model can be steered into writing must not reach it live: Slack's control sequences
(`<!channel>`, `<@U…>`, `<https://evil|innocent words>`), which `escape_untrusted` makes
inert as it does for mrkdwn, and Markdown links whose words hide where they go
(`[your invoice](https://evil.example)`), which are rewritten to show their address. Outside
fenced code, links are rewritten to show their address; everywhere, code included, every
`](` left (a link cut in two, across lines) and every `]:` (a reference definition,
wherever it stands: in a quote, a list, a label over two lines) is escaped, so no link can
be formed from pieces, whatever a renderer takes for code.
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
# What is left of a link cut in two (`](`), and a reference definition's `]:`: escaped.
_LINK_JOINTS = re.compile(r"\](?=[(:])")


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


class FenceTracker:
    """Whether a code block is open, line by line, as text arrives in pieces."""

    def __init__(self, *, mid_line: bool = False) -> None:
        self.fence: Fence | None = None
        # The line being written; a piece that starts mid-line cannot open a fence there.
        self._partial = "\0" if mid_line else ""

    def feed(self, text: str) -> None:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.fence = open_fence(line, self.fence)

    def copy(self) -> FenceTracker:
        other = FenceTracker()
        other.fence, other._partial = self.fence, self._partial
        return other


def outside_fence_line(text: str, cut: int, start: int, limit: int) -> int:
    """`cut`, moved off a fence's line (cutting there would split a code block's opening
    line, language and all): to the line's start, else past its end when that fits."""
    line_start = text.rfind("\n", 0, cut) + 1
    if line_start == cut:
        return cut
    line_end = text.find("\n", cut)
    line_end = len(text) if line_end < 0 else line_end
    if not _FENCE.match(text[line_start:line_end]):
        return cut
    if line_start > start:
        return line_start
    return line_end + 1 if line_end + 1 <= limit else cut


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
            cut = outside_fence_line(current, cut, len(reopen), room)
            if _FENCE.match(current[len(reopen) : cut].strip()):
                # Only a fence's opening line fits before a line longer than the piece:
                # that line is cut instead (a piece of code, not an empty code block).
                cut = max(room - 2 * _MAX_MARKER, cut + 1)
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


# The sanitizer's view of code blocks errs towards prose (prose is escaped; escaping in code
# only shows a backslash): a block opens only on a fence at the start of a line, and closes
# as CommonMark closes it.
_OPENER = re.compile(r"^(`{3,}|~{3,})(.*)$")
_CLOSER = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")


def _reveal(text: str) -> str:
    """Links shown with their address, and any joint left (`](`, `]:`) escaped."""

    def shown(m: re.Match[str]) -> str:
        words, address = m.group(2).strip(), m.group(3)
        if not words or words == address or address.endswith(words):
            return address
        return f"{words} ({address})"

    return _LINK_JOINTS.sub(lambda m: "]\\", _LINK.sub(shown, text))


class MarkdownSanitizer:
    """Model-written Markdown made safe to send as `markdown_text`, in as many pieces as it
    arrives. Outside fenced code, links show their address; everywhere, every `](` / `]:`
    left is escaped, code included (a rare visible backslash in code is the price of never
    depending on agreeing with the renderer about what is code). Whether a line opens or
    closes a code block is decided only once the whole line has arrived."""

    def __init__(self) -> None:
        self._fence: Fence | None = None
        self._partial = ""  # the line being written (escaped), for its fence decision

    @property
    def fence(self) -> Fence | None:
        """The code block the text so far ends inside, if any."""
        return self._fence

    def feed(self, text: str, follows: str | None = None) -> str:
        """The next piece of the answer, made safe. `follows` is what comes next ("" for
        nothing, None when not known yet)."""
        parts = escape_untrusted(text).split("\n")
        out: list[str] = []
        for i, part in enumerate(parts):
            if self._fence is not None:
                # In code Markdown forms no links, but where a sanitizer and a renderer
                # disagree about what is code, text believed code may render as prose: its
                # joints are escaped all the same (a rare visible backslash in code).
                safe = _LINK_JOINTS.sub(lambda m: "]\\", part)
            else:
                safe = _reveal(part)
            if (
                i == len(parts) - 1
                and safe.endswith("]")
                and (follows is None or follows[:1] in ("(", ":"))
            ):
                # The next piece may begin with `(` or `:`: no joint across pieces.
                safe = safe[:-1] + "\\]"
            out.append(safe)
            line = self._partial + part
            if i < len(parts) - 1:
                self._decide(line)
                self._partial = ""
            else:
                self._partial = line
        return "\n".join(out)

    def _decide(self, line: str) -> None:
        if self._fence is None:
            m = _OPENER.match(line)
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                marker = m.group(1)
                self._fence = Fence(marker[0], len(marker), line.strip()[:_MAX_REOPEN])
            return
        m = _CLOSER.match(line)
        if m and m.group(1)[0] == self._fence.char and len(m.group(1)) >= self._fence.length:
            self._fence = None


def inert_markdown(text: str) -> str:
    """Model-written Markdown made safe to send as `markdown_text` (all of it at once)."""
    return MarkdownSanitizer().feed(text, follows="")
