"""Undo the Unicode tricks that hide digits and keys from a pattern: full-width and other
compatibility forms (NFKC, character by character), invisible format characters (zero-width spaces and joiners, soft
hyphens, bidi marks), control characters (NUL and the rest of category Cc but tab and line
breaks: a UTF-16 file read as UTF-8 puts a NUL between every two characters), and the many
Unicode dashes and spaces."""

from __future__ import annotations

import re
import unicodedata

_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]")
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# Longest compatibility form taken: ligatures (ﬃ, ﬆ, ĳ), numero (№), Roman numerals (Ⅱ) and
# digits with a full stop (⒋) fold to two or three letters, and hide what a pattern looks for.
_MAX_FOLD = 3


class _Folding(dict[int, str | None]):
    """`str.translate` table built on demand, one entry per character met: the character's
    compatibility form (NFKC) when that is at most three characters (full-width digits and
    letters, circled and mathematical digits, superscripts, ligatures), dropped when it is
    invisible (category Cf: zero-width spaces and joiners, soft hyphens, bidi controls,
    BOM; a key with one inside looks whole to a reader), and the character itself otherwise.

    Longer forms are not taken: whole-text NFKC let one character become eighteen (U+FDFA),
    so 40 KB of text became 720 KB to scan. The text now grows at most threefold.
    """

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        folded: str | None = char
        if unicodedata.category(char) == "Cf":
            folded = None
        else:
            compatible = unicodedata.normalize("NFKC", char)
            if len(compatible) <= _MAX_FOLD:
                folded = compatible
        self[code] = folded
        return folded


_FOLDING = _Folding()


# Category Cc is exactly U+0000-001F and U+007F-009F; tab, LF, VT, FF and CR are kept as
# the layout that line-anchored patterns read. (A regex: far faster than `str.translate`
# on text that has none, which is nearly all text.)
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_NON_ASCII = re.compile("[^\x00-\x7f]+")


def _fold(match: re.Match[str]) -> str:
    return match.group().translate(_FOLDING)


def normalize(text: str) -> str:
    """Text with the same visible content, in the plain forms the patterns expect."""
    text = _CONTROL_CHARS.sub("", text)
    if not text.isascii():
        # Canonical composition first (a letter and its combining accent become one
        # character), then the per-character compatibility folding. ASCII folds to itself:
        # in mostly-ASCII text only the other runs are looked up.
        text = unicodedata.normalize("NFC", text)
        ascii_chars = len(text.encode("ascii", "ignore"))
        if ascii_chars * 4 > len(text) * 3:
            text = _NON_ASCII.sub(_fold, text)
        else:
            text = text.translate(_FOLDING)
        text = _DASHES.sub("-", text)
        text = _SPACES.sub(" ", text)
    return text
