"""Street addresses, by their shape: a house number next to a street word, unit and box
markers, and postcode lines. Written by hand: no pattern library covers international
addresses, and an NLP model cannot be downloaded here. Measured on a labelled corpus by
`scripts/eval_detector.py`."""

from __future__ import annotations

import re
from collections.abc import Iterator

Span = tuple[int, int, str]

# Every repetition is bounded and a capitalised word starts only where a word starts: inside a
# 20,000-letter run, an unbounded `[A-Z][\w…]*` started at every letter and read to the end
# (`"street 1 " + "A" * 20_000` took 7.9 s). No real street word is longer than 40.
_WORD = r"[\w'’.\-]{1,40}"
_CAP = r"(?<![\w'’.\-])[A-ZÀ-ÖØ-Þ\u0370-\u03ff\u0400-\u04ff][\w'’.\-]{0,40}"
_GAP = r"\s{1,5}"
# Street words that follow the name: "254 Damvergi Street", "217 Lovers Lane".
_SUFFIX = (
    r"(?:street|st|str|road|rd|avenue|ave|av|lane|ln|drive|dr|boulevard|blvd|way|court|ct|"
    r"place|pl|terrace|crescent|close|square|sq|parkway|pkwy|highway|hwy|circle|cir|trail|"
    r"row|walk|grove|gardens|mews|green|point|points|cliffs?|creek|dam|forges?|rapids|union|"
    r"plaza|alley|bypass|causeway|corner|estate|expressway|fields?|ford|heights|hollow|"
    r"junction|loop|manor|meadows?|orchard|pass|path|pike|ridge|shoals?|springs?|summit|"
    r"track|turnpike|valley|view|villa|ville|vista|wells?|wharf)"
)
# Street words that come first: "Rua do Arenque 1634", "ul. Chrzanowska 61".
_PREFIX = (
    r"(?:rua|rue|via|viale|piazza|corso|largo|strada|calle|avenida|av\.|paseo|camino|carrer|"
    r"chaussée|boulevard|avenue|c/|ul\.|ulica|ulice|utca|útja|út|odos|οδός|οδος|leoforos|λεωφόρος)"
)
_PREFIX_MARKERS = (
    "rua", "rue", "via", "piazza", "corso", "largo", "strada", "calle", "avenida", "av.",
    "paseo", "camino", "carrer", "chaussée", "boulevard", "avenue", "c/", "ul.", "ulic", "utca",
    "út", "odos",
    "οδός", "οδος", "leoforos", "λεωφόρος",
)  # fmt: skip

# Street words written into the name: "Laukaantie 80", "Ziegelgasse 19", "Vesterskovvej 79".
_COMPOUND_SUFFIXES = (
    "straße", "strasse", "gasse", "weg", "allee", "platz", "ring", "damm", "ufer", "laan",
    "straat", "gracht", "plein", "kade", "vej", "gade", "gata", "gatan", "vägen", "väg",
    "veien", "vei", "gate", "tie", "katu", "kuja", "polku", "tori", "kaari", "rinne", "braut",
    "vegur", "stræti", "gränd", "stig",
)  # fmt: skip

# Each pattern with the markers (lower-cased) one of which the text must hold for the
# pattern to be worth running; None runs it on any text with a digit.
_PATTERNS: list[tuple[re.Pattern[str], tuple[str, ...] | None]] = [
    (
        re.compile(
            rf"\d(?<![\w.]\d)\d{{0,5}}[A-Za-z]?,?{_GAP}(?:{_CAP}{_GAP}){{1,4}}(?i:{_SUFFIX})\b\.?(?!\w)"
        ),
        None,
    ),
    (
        re.compile(rf"(?<![\w])(?i:{_PREFIX}){_GAP}(?:{_WORD}{_GAP}){{0,5}}\d{{1,5}}[A-Za-z]?\b"),
        _PREFIX_MARKERS,
    ),
    (
        re.compile(r"(?<![\w'’\-])[\w'’\-]{1,40}\s{1,5}(?:u\.|utca|út)\s{1,5}\d{1,5}"),
        (" u. ", "utca", "út"),
    ),
    # Units, boxes, military post.
    # ("Suite 2026 of the benchmark" and "box 3 of 5" are not addresses.)
    (
        re.compile(
            r"(?i)(?<![\w])(?:apt\.?|apartment|suite|ste\.|unit|flat)\s{0,5}#?\s{0,5}\d{1,6}\b(?! of\b)"
        ),
        ("apt", "apartment", "suite", "ste.", "unit", "flat"),
    ),
    (
        re.compile(r"(?i)(?<![\w])(?:p\.?\s?o\.?\s?box|psc|box)\s{0,5}#?\s{0,5}\d{3,6}\b(?! of\b)"),
        ("box", "psc"),
    ),
    (
        re.compile(
            r"(?<![\w])(?:APO|FPO|DPO|apo|fpo|dpo)\s{1,5}(?:AA|AE|AP|aa|ae|ap)\s{1,5}\d{5}\b"
        ),
        ("apo", "fpo", "dpo"),
    ),
    # "764 Fagradalsbraut 71": a number, one capitalised word, a number.
    (
        re.compile(
            rf"\d(?<![\w.:/#-]\d)\d{{0,5}}{_GAP}{_CAP}{_GAP}\d{{1,5}}[A-Za-z]?(?![\w:.]|\.\d)"
        ),
        None,
    ),
    # "SCHEIBBS, NO 14908" / "St Georges, QC 54256"
    (
        re.compile(r"(?<![\w])[A-Z][\w'’. \-]{1,40},\s{0,3}[A-Z]{2}\s{1,3}\d{5}(?:-\d{4})?\b"),
        (",",),
    ),
    # A name and a number followed by "street": "Hoge Wei 32 St.", "Grössgstötten 50 street".
    (
        re.compile(
            rf"{_CAP}(?:{_GAP}{_WORD}){{0,3}}{_GAP}\d{{1,5}}[A-Za-z]?\.?{_GAP}(?i:street|st\.|str\.)"
        ),
        ("street", "st.", "str."),
    ),
    # After words that introduce a place: "lives on Joaquin Suarez 2906", "the corner of
    # Kuusiku 7", "return to Leon and Eyrarodda 66".
    (
        re.compile(
            r"(?i:\b(?:lives?|living|lived) (?:on|at|in)|\bsent to|\breturn(?:ed)? to|"
            r"\bdrops? (?:you|me|us) off at|\bstop at|\benter on|\bcorner of|\blocated at|"
            r"\bship(?:ped)? to|\bdeliver(?:ed)? to|\bmoved to|\baddress(?:es)? (?:is|to|with))"
            rf"[^\n\d]{{0,40}}?{_CAP}(?:{_GAP}{_WORD}){{0,3}}{_GAP}\d{{1,5}}\b"
        ),
        (
            "live",
            "living",
            "sent to",
            "return",
            "off at",
            "stop at",
            "enter on",
            "corner of",
            "located at",
            "ship",
            "deliver",
            "moved to",
            "address",
        ),
    ),
    # A line ending in a five-digit postcode after a capitalised place or country.
    (
        re.compile(
            rf"(?m)^[ \t>]{{0,10}}{_CAP}(?:[ \t]{{1,5}}[\w()'’.\-]{{1,40}}){{0,4}}[ \t]{{1,5}}\d{{5}}[ \t]{{0,10}}$"
        ),
        None,
    ),
]


def _gate(markers: tuple[str, ...]) -> re.Pattern[str]:
    # Markers start a word ("true" must not open the gate of "rue"), or are punctuation.
    words = [rf"\b{re.escape(m)}" if m[:1].isalnum() else re.escape(m) for m in markers]
    return re.compile("|".join(words))


_GATED_PATTERNS = [
    (pattern, None if markers is None else _gate(markers)) for pattern, markers in _PATTERNS
]

# A house number after a word: the word is then checked for a street suffix. Matching the
# suffixes with a regex would retry every position of the text against every suffix.
_NUMBER_AFTER_WORD = re.compile(r"(?<=[^\W\d_])\s{1,5}(?!(?:19|20)\d\d\b)\d{1,5}[A-Za-z]?\b")
# "Semperweg 150", not "weg 3" or "gate 5"; years ("During 2017") are not house numbers.
_MIN_NAME_BEFORE_SUFFIX = 2


def _word_before(text: str, end: int) -> int:
    start = end
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "'’-_"):
        start -= 1
    return start


def find_addresses(text: str) -> Iterator[Span]:
    if not any(ch.isdigit() for ch in text):
        return
    lowered = text.lower()
    for pattern, gate in _GATED_PATTERNS:
        if gate is not None and not gate.search(lowered):
            continue
        for m in pattern.finditer(text):
            yield m.start(), m.end(), "street_address"
    for m in _NUMBER_AFTER_WORD.finditer(text):
        start = _word_before(text, m.start())
        name = text[start : m.start()]
        if not name[:1].isupper():
            continue  # street names are capitalised; "monitoring 3" is not one
        word = name.lower()
        if not word.endswith(_COMPOUND_SUFFIXES):
            continue
        for suffix in _COMPOUND_SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_NAME_BEFORE_SUFFIX:
                yield start, m.end(), "street_address"
                break
