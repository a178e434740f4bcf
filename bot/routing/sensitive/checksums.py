"""Check digits that tell a real identifier from a number that merely looks like one."""

from __future__ import annotations

import string

# Each digit doubled, with 9 subtracted when that makes two digits: Luhn's table.
_DOUBLED = str.maketrans("0123456789", "0246813579")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment card numbers."""
    reverse = digits[::-1]
    total = sum(map(int, reverse[0::2])) + sum(map(int, reverse[1::2].translate(_DOUBLED)))
    return total % 10 == 0


# Card number prefixes (IIN ranges) of the networks in use; with Luhn alone, one in ten
# random numbers of the right length would pass.
_CARD_PREFIXES: tuple[tuple[int, int, int], ...] = (
    # (low, high, prefix length)
    (4, 4, 1),  # Visa
    (51, 55, 2),  # Mastercard
    (2221, 2720, 4),  # Mastercard 2-series
    (34, 34, 2),
    (37, 37, 2),  # American Express
    (300, 305, 3),
    (36, 36, 2),
    (38, 39, 2),  # Diners Club
    (6011, 6011, 4),
    (644, 649, 3),
    (65, 65, 2),  # Discover
    (3500, 3599, 4),
    (1800, 1800, 4),
    (2131, 2131, 4),  # JCB (and the 15-digit 1800/2131 ranges)
    (50, 50, 2),
    (56, 69, 2),  # Maestro, UnionPay (62), RuPay (60)
)


# The same ranges as strings, by length: a set lookup instead of 17 integer conversions.
_PREFIX_SETS: tuple[tuple[int, frozenset[str]], ...] = tuple(
    (
        n,
        frozenset(
            str(v) for low, high, k in _CARD_PREFIXES if k == n for v in range(low, high + 1)
        ),
    )
    for n in sorted({k for _, _, k in _CARD_PREFIXES})
)


# Every four-digit start that begins with a prefix: one set lookup for any card number.
_CARD_STARTS = frozenset(
    f"{v:04d}" for v in range(10_000) if any(f"{v:04d}"[:n] in p for n, p in _PREFIX_SETS)
)


def has_card_prefix(digits: str) -> bool:
    """True when the digits (at least four) start with a card network's prefix (IIN range)."""
    return digits[:4] in _CARD_STARTS


def card_number_valid(digits: str) -> bool:
    """A 12-19 digit number with a card network's prefix and a valid Luhn check digit."""
    if not 12 <= len(digits) <= 19:
        return False
    return has_card_prefix(digits) and luhn_valid(digits)


_LETTER_VALUES = {ch: str(i) for i, ch in enumerate(string.ascii_uppercase, start=10)}


def iban_valid(candidate: str) -> bool:
    """The ISO 13616 mod-97 check of an IBAN (spaces ignored, any case)."""
    iban = candidate.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34 or not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    try:
        number = "".join(_LETTER_VALUES.get(ch, ch) for ch in rearranged)
        return int(number) % 97 == 1
    except ValueError:
        return False
