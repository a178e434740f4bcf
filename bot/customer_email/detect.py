"""Does a text look like an email? Pure: headers, quoted replies, greeting and sign-off."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER = re.compile(
    r"(?im)^[ \t>]*(?:from|to|cc|subject|date|sent|reply-to|de|à|objet|envoyé|von|an|betreff|"
    r"gesendet|para|asunto|enviado|assunto|oggetto|inviato|da|onderwerp|verzonden|van|aan)\s*:\s*\S"
)
_QUOTE_MARKERS = re.compile(
    r"(?im)^[ \t]*(?:-{2,}\s*(?:original message|forwarded message|mensaje original|"
    r"message d'origine|ursprüngliche nachricht|message transféré|weitergeleitete nachricht)"
    r"|begin forwarded message|on .{4,80} wrote:|le .{4,80} a écrit\s*:|am .{4,80} schrieb .{0,40}:|"
    r"el .{4,80} escribió:|em .{4,80} escreveu:|il .{4,80} ha scritto:|op .{4,80} schreef .{0,40}:)"
)
_QUOTED_LINE = re.compile(r"(?m)^[ \t]*>")
_GREETING = re.compile(
    r"(?im)^[ \t]*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings|to whom it may concern|"
    r"bonjour|bonsoir|madame|monsieur|hallo|guten tag|sehr geehrte[rs]?|liebe[rs]?|hola|estimad[oa]s?|"
    r"buenos días|olá|prezad[oa]s?|bom dia|ciao|salve|gentile|buongiorno|beste|geachte|goedemiddag|hej)\b"
)
_SIGN_OFF = re.compile(
    r"(?i)^[ \t]*(?:best|best regards|kind regards|regards|warm regards|thanks|thank you|many thanks|"
    r"thanks a lot|thanks in advance|cheers|sincerely|yours(?: truly| sincerely)?|cordialement|"
    r"bien à vous|salutations|merci|merci d'avance|mit freundlichen grüßen|viele grüße|beste grüße|"
    r"lg|saludos|gracias|atentamente|un saludo|atenciosamente|abraços|obrigad[oa]|cordiali saluti|"
    r"distinti saluti|grazie|met vriendelijke groet|groeten|mvg)\b[ ,.!]*$"
)
# After a sign-off, an email ends with a signature: a name, perhaps a title and a phone.
_SIGNATURE_LINES = 4
_SIGNATURE_LINE_CHARS = 80


@dataclass(frozen=True)
class EmailSignals:
    """What makes a text look like an email."""

    headers: int
    quote_markers: bool
    greeting: bool
    signed: bool

    @property
    def is_email(self) -> bool:
        """Two header lines, or a quote marker, or a sign-off followed by a signature after a
        greeting or a header. A greeting and a thanks alone are how people write in chat:
        "Hi, how do I reset my VPN token? Thanks!" is a question, not an email."""
        return (
            self.headers >= 2
            or self.quote_markers
            or (self.signed and (self.greeting or self.headers >= 1))
        )


def _signed(text: str) -> bool:
    """A sign-off line followed by a short signature that ends the text."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    tail = lines[-(_SIGNATURE_LINES + 1) :]
    for i, line in enumerate(tail[:-1]):
        signature = tail[i + 1 :]
        if (
            _SIGN_OFF.match(line)
            and signature[0][:1].isupper()
            and "?" not in signature[0]
            and all(len(s) <= _SIGNATURE_LINE_CHARS for s in signature)
        ):
            return True
    return False


def email_signals(text: str) -> EmailSignals:
    """Count the signs of an email in `text`."""
    return EmailSignals(
        headers=len(_HEADER.findall(text)),
        quote_markers=bool(_QUOTE_MARKERS.search(text)) or len(_QUOTED_LINE.findall(text)) >= 2,
        greeting=bool(_GREETING.search(text)),
        signed=_signed(text),
    )


def looks_like_email(text: str) -> bool:
    """True when `text` is (or contains) an email someone pasted."""
    return len(text) >= 40 and email_signals(text).is_email


_SUMMARY_REQUEST = re.compile(
    r"(?i)\b(?:summari[sz]e|summary|sum up|tl;?dr|what does (?:this|the) customer want|"
    r"résum\w*|zusammenfass\w*|resum\w*|riassum\w*|samenvat\w*)"
)


def asks_for_summary(text: str) -> bool:
    """True when an instruction asks for a summary ("summarise the email above")."""
    return bool(_SUMMARY_REQUEST.search(text))
