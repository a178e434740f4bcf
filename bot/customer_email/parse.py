"""Turning an email into text: `.eml` files through the standard library's `email` package
(MIME parts, quoted-printable, base64, HTML-only bodies), and pasted text split into the
newest message and the quoted history."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser

MAX_BODY_CHARS = 20_000


@dataclass(frozen=True)
class ParsedEmail:
    """An email as text: its headers, the newest message, and earlier quoted messages."""

    subject: str | None
    sender: str | None
    date: str | None
    newest: str
    earlier: str

    def as_prompt_text(self) -> str:
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
        return "\n".join(lines)[:MAX_BODY_CHARS]


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "table", "blockquote"}
    )
    _SKIP = frozenset({"script", "style", "head", "title"})

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
    text = html.unescape("".join(extractor.parts))
    text = re.sub(r"[ \t\r\f\v\xa0]+", " ", text)
    return re.sub(
        r"\n\s*\n\s*\n+", "\n\n", "\n".join(line.strip() for line in text.splitlines())
    ).strip()


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    text = content if isinstance(content, str) else content.decode("utf-8", "replace")
    text = text.replace("\r\n", "\n")
    if part.get_content_type() == "text/html":
        return html_to_text(text)
    return text


def parse_eml(raw: bytes) -> ParsedEmail:
    """Parse an `.eml` file; a forwarded message attached as message/rfc822 is context."""
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
    other text as a pasted email."""
    head = content[:2000].decode("utf-8", "replace")
    if name.lower().endswith(".eml") or re.search(
        r"(?im)^(?:mime-version|content-type|received):", head
    ):
        return parse_eml(content)
    return parse_pasted(content.decode("utf-8", "replace"))
