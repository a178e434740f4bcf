"""Markdown to Slack mrkdwn, for the one path that cannot take Markdown: response URLs (a
slash command answered where the bot cannot post). Pure; no I/O.

The Markdown is parsed by markdown-it-py (a maintained CommonMark parser that runs in linear
time), and only its tokens are rendered here: headings and bold become `*bold*`, emphasis
`_italic_`, strikethrough `~struck~`, lists `•` / `1.`, block quotes `>`, code stays code,
tables become a code block, and every link shows its address (`words (https://…)`), so no
words hide where a link goes. All text is escaped (`&`, `<`, `>`), so nothing the model wrote
becomes a mention or a link.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

_PARSER = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_INLINE_MARK = {"strong": "*", "em": "_", "s": "~"}


def escape(text: str) -> str:
    """Text made literal for mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inline(tokens: list[Token]) -> str:
    out: list[str] = []
    links: list[tuple[str, int]] = []
    for tok in tokens:
        kind = tok.type
        if kind == "text" or kind == "html_inline":
            out.append(escape(tok.content))
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "code_inline":
            out.append(f"`{escape(tok.content)}`")
        elif kind.endswith("_open") and kind[:-5] in _INLINE_MARK:
            out.append(_INLINE_MARK[kind[:-5]])
        elif kind.endswith("_close") and kind[:-6] in _INLINE_MARK:
            out.append(_INLINE_MARK[kind[:-6]])
        elif kind == "link_open":
            links.append((str(tok.attrGet("href") or ""), len(out)))
        elif kind == "link_close" and links:
            href, at = links.pop()
            words = "".join(out[at:])
            if href and words != escape(href):
                out.append(f" ({escape(href)})")
        elif kind == "image":
            alt = escape(tok.content) or "image"
            out.append(f"{alt} ({escape(str(tok.attrGet('src') or ''))})")
    return "".join(out)


def _table_rows(tokens: list[Token], start: int) -> tuple[list[str], int]:
    """The rows of the table opening at `start` as `a | b` lines, and where it ends."""
    rows: list[str] = []
    cells: list[str] = []
    i = start
    while tokens[i].type != "table_close":
        tok = tokens[i]
        if tok.type == "inline":
            cells.append(tok.content.replace("\n", " "))
        elif tok.type == "tr_close":
            rows.append(" | ".join(cells))
            cells = []
        i += 1
    return rows, i


def to_mrkdwn(markdown: str) -> str:
    """Markdown rendered as Slack mrkdwn."""
    tokens = _PARSER.parse(markdown)
    blocks: list[str] = []
    # Per open list: the next number of an ordered list, None for bullets.
    lists: list[int | None] = []
    quoted = 0
    bullet: str | None = None  # the marker the next block of a list item starts with
    fresh = False  # a list just opened at the top: it starts a block of its own

    def emit(text: str) -> None:
        nonlocal bullet, fresh
        indent = "    " * max(len(lists) - 1, 0)
        lines = text.split("\n")
        first = (indent + bullet) if bullet is not None else (indent + "  " if lists else "")
        rest_prefix = indent + ("   " if lists else "")
        rendered = [first + lines[0], *(rest_prefix + line for line in lines[1:])]
        if quoted:
            rendered = ["> " + line for line in rendered]
        block = "\n".join(rendered)
        if blocks and lists and not fresh:
            blocks[-1] += "\n" + block
        else:
            blocks.append(block)
        bullet = None
        fresh = False

    i = 0
    while i < len(tokens):
        tok = tokens[i]
        kind = tok.type
        if kind == "heading_open":
            emit(f"*{_inline(tokens[i + 1].children or [])}*")
            i += 2
        elif kind == "paragraph_open":
            emit(_inline(tokens[i + 1].children or []))
            i += 2
        elif kind in ("fence", "code_block"):
            emit("```\n" + escape(tok.content.rstrip("\n")) + "\n```")
        elif kind in ("bullet_list_open", "ordered_list_open"):
            fresh = fresh or not lists
            lists.append(int(tok.attrGet("start") or 1) if kind == "ordered_list_open" else None)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            number = lists[-1]
            bullet = "• " if number is None else f"{number}. "
            if number is not None:
                lists[-1] = number + 1
        elif kind == "blockquote_open":
            quoted += 1
        elif kind == "blockquote_close":
            quoted -= 1
        elif kind == "hr":
            emit("───")
        elif kind == "table_open":
            rows, i = _table_rows(tokens, i)
            emit("```\n" + escape("\n".join(rows)) + "\n```")
        elif kind == "html_block":
            emit(escape(tok.content.rstrip("\n")))
        i += 1
    return "\n\n".join(blocks)
