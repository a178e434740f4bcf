"""Bytes of a shared file to text, without letting an encoding hide data from the detector.

A `.txt` or `.eml` saved as UTF-16 (Windows Notepad's "Unicode", PowerShell 5's `>`) read
as UTF-8 puts a NUL beside every character, and no pattern matches a card number written
`4\\x001\\x00…`. So: byte-order marks first (UTF-8, UTF-16, UTF-32), then strict UTF-8, then
charset-normalizer (the detector `requests` uses) for legacy encodings and BOM-less UTF-16.
What none of them decodes with confidence is still turned into text, but marked uncertain,
and an uncertain file routes on-prem. Pure: no I/O.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import charset_normalizer

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# charset-normalizer's "chaos" (mess ratio): above this a guess is not trusted.
_MAX_CHAOS = 0.1


@dataclass(frozen=True)
class DecodedText:
    """A file's text, the encoding it was read with, and whether that is certain."""

    text: str
    encoding: str
    confident: bool


def decode_bytes(raw: bytes) -> DecodedText:
    """Decode a file's bytes; never raises."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return DecodedText(raw[len(bom) :].decode(encoding), encoding, True)
            except UnicodeDecodeError:
                break
    if b"\x00" not in raw:
        try:
            return DecodedText(raw.decode("utf-8"), "utf-8", True)
        except UnicodeDecodeError:
            pass
    best = charset_normalizer.from_bytes(raw).best()
    if best is not None and best.encoding and best.chaos <= _MAX_CHAOS:
        text = str(best)
        return DecodedText(text, best.encoding, "\x00" not in text)
    return DecodedText(raw.decode("utf-8", "replace"), "unknown", False)


def looks_wide(raw: bytes) -> bool:
    """True when the bytes are UTF-16/32 (a mark, or NULs between characters): a MIME parser
    reading them as bytes would see no headers at all."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    sample = raw[:4096]
    return len(sample) >= 8 and sample.count(0) >= len(sample) // 4
