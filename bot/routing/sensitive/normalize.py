"""Undo the Unicode tricks that hide digits and keys from a pattern: full-width and other
compatibility forms (NFKC), invisible format characters (zero-width spaces and joiners, soft
hyphens, bidi marks), and the many Unicode dashes and spaces."""

from __future__ import annotations

import re
import unicodedata

_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]")
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")


def normalize(text: str) -> str:
    """Text with the same visible content, in the plain forms the patterns expect."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        # Format characters (category Cf: ZWSP, ZWJ, ZWNJ, word joiner, BOM, soft hyphen,
        # bidi controls) are invisible: a key with one inside looks whole to a reader.
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
        text = _DASHES.sub("-", text)
        text = _SPACES.sub(" ", text)
    return text
