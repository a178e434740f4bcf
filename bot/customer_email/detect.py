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
    r"(?im)^[ \t]*(?:best|best regards|kind regards|regards|warm regards|thanks|thank you|many thanks|"
    r"cheers|sincerely|yours(?: truly| sincerely)?|cordialement|bien à vous|salutations|"
    r"mit freundlichen grüßen|viele grüße|beste grüße|lg|saludos|atentamente|un saludo|"
    r"atenciosamente|abraços|obrigad[oa]|cordiali saluti|distinti saluti|grazie|met vriendelijke groet|"
    r"groeten|mvg)\b[ ,.!]*$"
)


@dataclass(frozen=True)
class EmailSignals:
    """What makes a text look like an email."""

    headers: int
    quote_markers: bool
    greeting: bool
    sign_off: bool

    @property
    def is_email(self) -> bool:
        """Two header lines, or a quote marker, or a greeting and a sign-off together."""
        return self.headers >= 2 or self.quote_markers or (self.greeting and self.sign_off)


def email_signals(text: str) -> EmailSignals:
    """Count the signs of an email in `text`."""
    return EmailSignals(
        headers=len(_HEADER.findall(text)),
        quote_markers=bool(_QUOTE_MARKERS.search(text)) or len(_QUOTED_LINE.findall(text)) >= 2,
        greeting=bool(_GREETING.search(text)),
        sign_off=bool(_SIGN_OFF.search(text)),
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
