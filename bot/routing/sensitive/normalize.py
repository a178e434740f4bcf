"""Undo the Unicode tricks that hide digits and keys from a pattern: full-width and other
compatibility forms (NFKC), invisible format characters (zero-width spaces and joiners, soft
hyphens, bidi marks), control characters (NUL and the rest of category Cc but tab and line
breaks: a UTF-16 file read as UTF-8 puts a NUL between every two characters), and the many
Unicode dashes and spaces."""

from __future__ import annotations

import re
import unicodedata

_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]")
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# Category Cc is exactly U+0000-001F and U+007F-009F; tab, LF, VT, FF and CR are kept as
# the layout that line-anchored patterns read.
_KEPT = {0x09, 0x0A, 0x0B, 0x0C, 0x0D}
_CONTROLS: dict[int, None] = {
    c: None for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if c not in _KEPT
}


def normalize(text: str) -> str:
    """Text with the same visible content, in the plain forms the patterns expect."""
    text = unicodedata.normalize("NFKC", text).translate(_CONTROLS)
    if not text.isascii():
        # Format characters (category Cf: ZWSP, ZWJ, ZWNJ, word joiner, BOM, soft hyphen,
        # bidi controls) are invisible: a key with one inside looks whole to a reader.
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
        text = _DASHES.sub("-", text)
        text = _SPACES.sub(" ", text)
    return text
