"""Turning an email into text: `.eml` files through the standard library's `email` package
(MIME parts, quoted-printable, base64, HTML-only bodies), and pasted text split into the
newest message and the quoted history.

The standard library's header parser is not built for hostile input: a `From:` of 280 KB of
encoded words took 19.7 s and 5.4 GB, a local part of 100,000 dots is quadratic, and 1,000
nested `message/rfc822` parts or 5,000 `(` overflow the stack. So `check_limits` bounds the
header block, each header, the encoded words, addresses, comments, parts and nesting before
anything is parsed, and `bot.customer_email.worker` runs the parse in a separate process
with a deadline and a memory limit. Every failure is an `EmailReadError` whose message is
one sentence for the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser, Parser
from html.parser import HTMLParser

from bot.customer_email.decode import decode_bytes, looks_wide

MAX_BODY_CHARS = 20_000


class EmailReadError(Exception):
    """An email file could not be read; the message says why, in one sentence for the user."""


@dataclass(frozen=True)
class EmailLimits:
    """Bounds checked on a raw `.eml` before the MIME parser sees it."""

    header_block_bytes: int = 64 * 1024
    header_bytes: int = 8 * 1024
    encoded_words: int = 200
    # In the whole file: forwarded messages (message/rfc822 parts) have headers too.
    encoded_words_in_file: int = 1000
    addresses: int = 200
    comment_parens: int = 100
    parts: int = 100
    nested_messages: int = 10


LIMITS = EmailLimits()
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_ADDRESS_HEADER = re.compile(rb"(?i)^(?:from|to|cc|bcc|reply-to|sender|resent-\w+):")
_PART_HEADER = re.compile(rb"(?im)^content-type:")
_NESTED = re.compile(rb"(?i)message/rfc822")


def check_limits(raw: bytes, limits: EmailLimits = LIMITS) -> None:
    """Refuse an email whose headers or structure are beyond what a real one needs. Linear."""
    end = _HEADER_END.search(raw)
    block = raw[: end.start()] if end else raw
    if len(block) > limits.header_block_bytes:
        raise EmailReadError("its headers are larger than any real email's")
    headers: list[bytes] = []
    for line in block.splitlines():
        if line[:1] in (b" ", b"\t") and headers:
            headers[-1] += line
        else:
            headers.append(line)
    if any(len(h) > limits.header_bytes for h in headers):
        raise EmailReadError("one of its headers is longer than any real email's")
    if block.count(b"=?") > limits.encoded_words or raw.count(b"=?") > limits.encoded_words_in_file:
        raise EmailReadError("its headers hold too many encoded words")
    if block.count(b"(") > limits.comment_parens:
        raise EmailReadError("its headers hold too many comments")
    addresses = sum(h.count(b"@") for h in headers if _ADDRESS_HEADER.match(h))
    if addresses > limits.addresses:
        raise EmailReadError("it is addressed to too many people")
    if len(_PART_HEADER.findall(raw)) > limits.parts:
        raise EmailReadError("it has too many parts")
    if len(_NESTED.findall(raw)) > limits.nested_messages:
        raise EmailReadError("it nests too many forwarded messages")


@dataclass(frozen=True)
class ParsedEmail:
    """An email as text: its headers, the newest message, and earlier quoted messages."""

    subject: str | None
    sender: str | None
    date: str | None
    newest: str
    earlier: str
    # The bytes could not be decoded with confidence: the email routes on-prem.
    uncertain: bool = False

    @property
    def truncated(self) -> bool:
        """True when the model sees only the start of the email."""
        return len(self._full_prompt_text()) > MAX_BODY_CHARS

    def as_prompt_text(self) -> str:
        """The email as the model reads it, cut to MAX_BODY_CHARS (see `truncated`)."""
        return self._full_prompt_text()[:MAX_BODY_CHARS]

    def _full_prompt_text(self) -> str:
        """The email as the model reads it: headers, then the newest message, then context."""
        lines = []
        if self.sender:
            lines.append(f"From: {self.sender}")
        if self.date:
            lines.append(f"Date: {self.date}")
        if self.subject:
            lines.append(f"Subject: {self.subject}")
        lines.append("")
        lines.append(self.newest.strip())
        if self.earlier.strip():
            lines += [
                "",
                "--- Earlier messages in this chain (context only) ---",
                self.earlier.strip(),
            ]
        return "\n".join(lines)


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "table", "blockquote"}
    )
    # Not `head`: HTML5 lets `</head>` be omitted, and skipping an unclosed head dropped the
    # whole body.
    _SKIP = frozenset({"script", "style", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("• ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Readable text from an HTML body: blocks become lines, scripts and styles go."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    # convert_charrefs already unescaped entities once; a second pass would turn the text
    # `&lt;` (written `&amp;lt;`) into a tag.
    text = "".join(extractor.parts)
    text = re.sub(r"[ \t\r\f\v\xa0]+", " ", text)
    return re.sub(
        r"\n\s*\n\s*\n+", "\n\n", "\n".join(line.strip() for line in text.splitlines())
    ).strip()


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError):
        # An unknown or wrong charset: read the bytes the way an undeclared file is read.
        payload = part.get_payload(decode=True)
        content = decode_bytes(payload if isinstance(payload, bytes) else b"").text
    text = content if isinstance(content, str) else decode_bytes(content).text
    text = text.replace("\r\n", "\n")
    if part.get_content_type() == "text/html":
        return html_to_text(text)
    return text


def parse_eml(raw: bytes) -> ParsedEmail:
    """Parse an `.eml` file; a forwarded message attached as message/rfc822 is context.

    Run it through `bot.customer_email.worker`, not on the event loop: it is bounded by
    `check_limits`, but the MIME parser's time and memory are only bounded by the worker.
    """
    uncertain = False
    if looks_wide(raw):  # saved as UTF-16/32: the MIME parser would see no headers
        decoded = decode_bytes(raw)
        uncertain = not decoded.confident
        check_limits(decoded.text.encode("utf-8", "replace"))
        message = Parser(policy=policy.default).parsestr(decoded.text)
    else:
        check_limits(raw)
        message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    body = _body_text(message)
    attached: list[str] = []
    for part in message.walk():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_content()
            if isinstance(inner, EmailMessage):
                attached.append(
                    f"From: {inner.get('From', '')}\nSubject: {inner.get('Subject', '')}\n\n"
                    f"{_body_text(inner)}"
                )
    newest, earlier = split_quoted(body)
    return ParsedEmail(
        subject=_header(message, "Subject"),
        sender=_header(message, "From"),
        date=_header(message, "Date"),
        newest=newest,
        earlier="\n\n".join(x for x in [earlier, *attached] if x.strip()),
        uncertain=uncertain,
    )


def _header(message: EmailMessage, name: str) -> str | None:
    value = message.get(name)
    return str(value).strip() if value else None


_SPLIT_MARKERS = re.compile(
    r"(?im)^[ \t]*(?:-{2,}\s*(?:original message|forwarded message|mensaje original|"
    r"message d'origine|ursprüngliche nachricht|message transféré|weitergeleitete nachricht)"
    r"[^\n]*$"
    r"|begin forwarded message:?"
    r"|on .{4,120} wrote:\s*$|le .{4,120} a écrit\s*:\s*$|am .{4,120} schrieb[^\n]*:\s*$"
    r"|el .{4,120} escribió:\s*$|em .{4,120} escreveu:\s*$|il .{4,120} ha scritto:\s*$"
    r"|op .{4,120} schreef[^\n]*:\s*$|from:\s.+\n(?:.*\n){0,3}?\s*(?:sent|date):\s)"
)


def split_quoted(text: str) -> tuple[str, str]:
    """The newest message, and everything quoted or forwarded below it."""
    body = text.replace("\r\n", "\n")
    match = _SPLIT_MARKERS.search(body, 1)
    if match is None:
        lines = body.split("\n")
        first_quoted = next(
            (i for i, line in enumerate(lines) if line.lstrip().startswith(">")), None
        )
        if first_quoted is None or first_quoted == 0:
            return body.strip(), ""
        return "\n".join(lines[:first_quoted]).strip(), "\n".join(lines[first_quoted:]).strip()
    newest, earlier = body[: match.start()].strip(), body[match.start() :].strip()
    if not newest:  # the whole paste is a forward: the forwarded message is the subject
        return earlier, ""
    return newest, earlier


_PASTED_HEADER = re.compile(
    r"(?im)^[ \t]*(from|subject|date|sent|objet|betreff|asunto|assunto|oggetto)\s*:\s*(.+)$"
)


def parse_pasted(text: str) -> ParsedEmail:
    """A pasted email: headers where present, newest message and quoted history."""
    headers: dict[str, str] = {}
    lines = text.strip().split("\n")
    body_start = 0
    for i, line in enumerate(lines[:12]):
        m = _PASTED_HEADER.match(line)
        if m is None and line.strip() and not headers:
            break  # headers come first; a "From:" further down belongs to a quoted message
        if m:
            key = m.group(1).lower()
            key = {
                "sent": "date",
                "objet": "subject",
                "betreff": "subject",
                "asunto": "subject",
                "assunto": "subject",
                "oggetto": "subject",
            }.get(key, key)
            headers.setdefault(key, m.group(2).strip())
            body_start = i + 1
        elif line.strip() and headers:
            break
    newest, earlier = split_quoted("\n".join(lines[body_start:]))
    return ParsedEmail(
        subject=headers.get("subject"),
        sender=headers.get("from"),
        date=headers.get("date"),
        newest=newest,
        earlier=earlier,
    )


def parse_file(name: str, content: bytes) -> ParsedEmail:
    """An uploaded file: `.eml` (or anything with email headers) through the MIME parser,
    other text as a pasted email, decoded whatever its encoding."""
    decoded = decode_bytes(content)
    if name.lower().endswith(".eml") or re.search(
        r"(?im)^(?:mime-version|content-type|received):", decoded.text[:2000]
    ):
        return parse_eml(content)
    parsed = parse_pasted(decoded.text)
    return replace(parsed, uncertain=not decoded.confident)
