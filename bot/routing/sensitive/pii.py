"""Patterns for personal data. Each finder takes normalised text and yields (start, end, kind).

Written here rather than taken from Presidio: Presidio's pattern recognizers are regular
expressions with the same checksums, but presidio-analyzer imports spaCy (and numpy,
tldextract...) even when no NLP model is used, about 340 MB of dependencies for a few
patterns. Phone numbers follow libphonenumber's national formats, without its matcher,
which costs about 2 ms per KB (the budget is 1 ms).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from bot.routing.sensitive.checksums import has_card_prefix, iban_valid, luhn_valid

Span = tuple[int, int, str]


_DIGIT = re.compile(r"\d")


def _digit_count(s: str) -> int:
    return len(_DIGIT.findall(s))


# --- email -------------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![\w.+%:/-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)


def find_emails(text: str) -> Iterator[Span]:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        # `git@github.com:org/repo` is an SSH address, not a mailbox.
        if text.startswith(":", m.end()) and m.group().startswith("git@"):
            continue
        yield m.start(), m.end(), "email"


# --- payment cards -----------------------------------------------------------------------
_CARD_CANDIDATE = re.compile(r"\d(?<![\d.,/+-]\d)(?:[ -]?\d){11,22}(?![\d-])")


# Product codes (EAN/UPC barcodes, ISBNs) are long digit runs that can pass Luhn by chance.
_PRODUCT_CODE = re.compile(r"(?i)\b(?:sku|ean|upc|gtin|barcode|isbn|article|item)\b[^\n\d]{0,12}$")


# Candidate numbers checked per run of digits. Digits spaced one by one ("4 1 1 1 …") make
# every digit a group start; without a cap, 40 KB of `1 1 1` cost 0.8 s. 64 checks cover
# every start of a run of 1-4 digit groups before the 23rd digit, where a card must begin.
_MAX_CARD_CHECKS = 64
_CARD_LENGTHS = (16, 15, 14, 13, 19, 18, 17, 12)


def find_cards(text: str) -> Iterator[Span]:
    if _digit_count(text) < 12:
        return
    for m in _CARD_CANDIDATE.finditer(text):
        if _PRODUCT_CODE.search(text, max(0, m.start() - 24), m.start()):
            continue
        raw = m.group()
        # Positions of digits, so a card inside a longer run of grouped digits is still found.
        positions = [i for i, ch in enumerate(raw) if ch.isdigit()]
        chars = "".join(raw[i] for i in positions)
        count = len(positions)
        starts = [0] + [k for k in range(1, count) if positions[k] - positions[k - 1] > 1]
        checks = 0
        for s in starts:
            if checks >= _MAX_CARD_CHECKS:
                break
            if not has_card_prefix(chars[s : s + 4]):
                continue  # no length from this start can be a card
            found = None
            for length in _CARD_LENGTHS:
                end = s + length
                if end > count:
                    continue
                checks += 1
                # A card ends where a group of digits ends.
                if (end == count or positions[end] - positions[end - 1] > 1) and luhn_valid(
                    chars[s:end]
                ):
                    found = end
                    break
            if found is not None:
                yield m.start() + positions[s], m.start() + positions[found - 1] + 1, "credit_card"
                break


# --- IBAN --------------------------------------------------------------------------------
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,4})?)"
    r"(?![A-Za-z0-9])"
)


def find_ibans(text: str) -> Iterator[Span]:
    if _digit_count(text) < 8:
        return
    for m in _IBAN.finditer(text):
        candidate = m.group()
        # Printed IBANs come in groups of four; drop trailing groups that belong to the
        # sentence ("DE89 3704 0044 0532 0130 00 for ...") until the checksum holds.
        while candidate:
            if iban_valid(candidate):
                yield m.start(), m.start() + len(candidate), "iban"
                break
            head, _, _ = candidate.rpartition(" ")
            candidate = head


# --- national identifiers ----------------------------------------------------------------
_SSN = re.compile(
    r"\d(?<![\d-]\d)\d{2}(?<!000)(?<!666)(?<!9\d\d)([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])"
)
_SSN_BARE = re.compile(
    r"(?i)\b(?:ssn|social security(?: number| no\.?)?|ss#)\W{0,5}(?!000|666|9\d\d)(\d{9})\b"
)


def find_national_ids(text: str) -> Iterator[Span]:
    if _digit_count(text) < 9:
        return
    for m in _SSN.finditer(text):
        yield m.start(), m.end(), "us_ssn"
    for m in _SSN_BARE.finditer(text):
        yield m.start(1), m.end(1), "us_ssn"


# --- IP addresses ------------------------------------------------------------------------
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![\w]|\.\d)"
)
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def find_ips(text: str) -> Iterator[Span]:
    if "." in text:
        yield from _find_ipv4(text)
    if text.count(":") >= 2:
        yield from _find_ipv6(text)


def _find_ipv4(text: str) -> Iterator[Span]:
    for m in _IPV4.finditer(text):
        ip = ipaddress.IPv4Address(m.group())
        # Loopback, "any" and netmasks say nothing about anyone.
        if ip.is_loopback or ip.is_unspecified or m.group().startswith("255."):
            continue
        yield m.start(), m.end(), "ipv4"


def _find_ipv6(text: str) -> Iterator[Span]:
    for m in _IPV6.finditer(text):
        candidate = m.group()
        if candidate.count(":") < 2:
            continue
        try:
            ip6 = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        if ip6.is_loopback or ip6.is_unspecified:
            continue
        yield m.start(), m.end(), "ipv6"


# --- phone numbers -----------------------------------------------------------------------
_SEP = r"[ .\-]"
_PHONE_STRONG = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            # International: +CC, optional (0), then groups.
            r"(?<![\w+])\+\d{1,3}(?:[ .\-]?\(0\))?(?:[ .\-]?\(?\d{1,5}\)?){2,6}(?:\s?(?:x|ext\.?)\s?\d{1,5})?",
            # 00 / 001 international prefix.
            r"(?<![\w.])00\d{1,3}[ .\-]\d{2,4}(?:[ .\-]\d{2,4}){1,4}(?![\w]|\.\d)",
            # North American: (555) 555-5555, 555-555-5555, 555.555.5555, optional extension.
            r"(?:\((?<![\w.\-]\()|\d(?<![\w.\-]\d))\d{2}\)?[ .\-]?\d{3}[.\-]\d{4}(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?!\w|-\d|\.\d)",
            r"\((?<![\w.\-]\()\d{2,4}\)\s?\d{3,4}[ .\-]?\d{3,4}(?!\w|-\d|\.\d)",
            # National numbers with a trunk 0, grouped: 0496 46 46 70, 07700 063 966, 01.84.17.61.18
            rf"0(?<![\w.\-]0)\d{{1,4}}(?:{_SEP}\d{{2,4}}){{2,4}}(?!\w|-\d|\.\d)",
            r"0(?<![\w.\-]0)\d{2,4}-\d{6,8}(?!\w|-\d|\.\d)",
            # Pairs: 71-33-52-22, 28 64 66 98
            r"\d(?<![\w.\-:]\d)\d(?P<sep>[ .\-])\d{2}(?P=sep)\d{2}(?P=sep)\d{2}(?:(?P=sep)\d{2})?(?!\w|-\d|:|\.\d)",
        )
    )
)
# Shapes that are phone numbers only next to a word that says so.
_PHONE_WEAK = re.compile(
    rf"(?<![\w.\-:/#])\(?\d{{2,5}}\)?(?:{_SEP}?\d{{2,5}}){{0,4}}(?![\w\-:/]|\.\d)"
)
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|mob|cell|call(?:ing)?|ring|dial|fax|office|desk|"
    r"whatsapp|sms|text me|contact|number|reach|answering|registered|messages to|landline|"
    r"hotline|ph|téléphone|telefon|teléfono|telefone|handy)\b"
)
_CONTEXT_BEFORE = 40
_CONTEXT_AFTER = 16
_DATE_LIKE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")


# Stretches that could hold a phone number; the shapes above run only inside them.
_PHONE_STRETCH = re.compile(r"[+(]?\d[\d ().\-]{5,24}\d(?:\s?(?:x|ext\.?)\s?\d{1,5})?")


def find_phones(text: str) -> Iterator[Span]:
    if _digit_count(text) < 7:
        return
    seen: list[tuple[int, int]] = []
    for stretch in _PHONE_STRETCH.finditer(text):
        end = min(len(text), stretch.end() + 1)
        for m in _PHONE_STRONG.finditer(text, stretch.start(), end):
            raw = m.group()
            if not 7 <= _digit_count(raw) <= 15 or _DATE_LIKE.match(raw):
                continue
            seen.append((m.start(), m.end()))
            yield m.start(), m.end(), "phone"
    covered = 0
    for m in _PHONE_WEAK.finditer(text):
        raw = m.group()
        digits = _digit_count(raw)
        if not 7 <= digits <= 13 or (digits > 11 and raw.isdigit()) or _DATE_LIKE.match(raw):
            continue
        # Strong matches come in order of position: skip those that end before this one
        # (a pointer, not a scan of all of them, which was quadratic on `00 00 00 …`).
        while covered < len(seen) and seen[covered][1] <= m.start():
            covered += 1
        if covered < len(seen) and seen[covered][0] <= m.start():
            continue
        window = text[max(0, m.start() - _CONTEXT_BEFORE) : m.end() + _CONTEXT_AFTER]
        if _PHONE_CONTEXT.search(window):
            yield m.start(), m.end(), "phone"


# --- dates of birth ----------------------------------------------------------------------
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    r"(?:\d{1,2}[./-]\d{1,2}[./-](?:19|20)?\d{2}|(?:19|20)\d{2}-\d{1,2}-\d{1,2}|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS},?\s+(?:19|20)\d{{2}}|"
    rf"{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}})"
)
_DOB = re.compile(
    r"(?i)\b(?:born|birth|birthday|date of birth|d\.?o\.?b\.?|né|née|geboren|"
    r"fecha de nacimiento|data di nascita|data de nascimento)\b[^\n]{0,30}?"
    rf"(?P<date>{_DATE})"
)


_DOB_MARKERS = ("born", "birth", "dob", "d.o.b", "né", "geboren", "nacimiento", "nascit")


def find_dates_of_birth(text: str) -> Iterator[Span]:
    lowered = text.lower()
    if not any(marker in lowered for marker in _DOB_MARKERS):
        return
    for m in _DOB.finditer(text):
        yield m.start("date"), m.end("date"), "date_of_birth"


# --- person names (off by default) -----------------------------------------------------
_NAME_WORD = r"[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ'’-]+"
_PERSON = re.compile(
    rf"(?:\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sir|Madam|Mme|Herr|Frau|Sr|Sra)\.?\s+(?P<a>{_NAME_WORD}(?:\s+{_NAME_WORD})?)"
    rf"|(?i:\bmy name is|\bi am|\bi'm|\bname:|\bdear|\bthis is)\s+(?P<b>{_NAME_WORD}(?:\s+{_NAME_WORD})?)"
    rf"|(?P<c>{_NAME_WORD}\s+(?:[A-Z]\.\s+)?{_NAME_WORD})(?=\s+(?:lives|was born|works|is from|had given))"
    rf"|^(?P<d>{_NAME_WORD}\s+(?:[A-Z]\.?\s+)?{_NAME_WORD})$)",
    re.MULTILINE,
)


def find_person_names(text: str) -> Iterator[Span]:
    for m in _PERSON.finditer(text):
        group = next(g for g in ("a", "b", "c", "d") if m.group(g))
        yield m.start(group), m.end(group), "person_name"
