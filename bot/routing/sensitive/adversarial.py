"""Adversarial text for the detector: the shapes that make regular expressions backtrack.

Shared by the worst-case tests and `bench/detector_worst_case.py`, so the benchmark measures
exactly what the tests bound. Each family is a prefix (what opens a pattern: a street word,
`sk-`, `born`) followed by a short token repeated to the size asked for.
"""

from __future__ import annotations

from collections.abc import Callable

# Tokens that extend or restart a pattern: letters, digits and the separators patterns use.
TOKENS = (
    "A", "a", "1", " ", "-", ".", "@", ":", "/", "+", "(", "_", "\n", "\t", "é", "\x00",
    "a-", "A ", "1 ", "1-", "1.", "a.", "a@", "sk-", "xox", "://", "a:", ":a", "A1", "0 ",
    "00 ", "+1 ", "(1", "Aa ", "Street ", "born ", "password ", "token is ", "rue ", "Mr ",
    "A. ", "eyJ", "eyJ.", "a://b:", "=?utf-8?q?a?= ", "AKIA", "DE89 ", "4111 ", "12.",
    "\ufdfa", "\u2152", "\u2487", "\U0001d7cf", "\uff11 ", "\u200b", "\U0001d1c0", "\ufb03",
    "\u248b", "\u2116 ", "\u2161",
)  # fmt: skip
PREFIXES = (
    "", "street 1 ", "born ", "password: ", "Bearer ", "https://u:", "from: ", "Mr ",
    "aws ", "1 Abc ", "IBAN ", "call ", "sk-proj-", "lives on ", "DE89",
)  # fmt: skip


def repeated(prefix: str, token: str, size: int) -> str:
    """`prefix` then `token` repeated to `size` characters."""
    return (prefix + token * (size // len(token) + 1))[:size]


# The shapes reported as slow before they were fixed, for the benchmark's table.
KNOWN_SLOW: dict[str, Callable[[int], str]] = {
    "street 1 + A*n": lambda n: repeated("street 1 ", "A", n),
    "sk-*n": lambda n: repeated("", "sk-", n),
    "eyJ*n": lambda n: repeated("", "eyJ", n),
    "aws + '1 '*n": lambda n: repeated("aws ", "1 ", n),
    "'00 '*n": lambda n: repeated("", "00 ", n),
    "a://b:*n": lambda n: repeated("", "a://b:", n),
    "https://u: + a*n": lambda n: repeated("https://u:", "a", n),
    "a-*n": lambda n: repeated("", "a-", n),
    "born *n": lambda n: repeated("", "born ", n),
    # Found by a hostile review's fuzzing, and characters that NFKC expanded 4 to 18 times.
    "password= + 'Aa a://b:1a@'*n": lambda n: repeated("password=", "Aa a://b:1a@", n),
    "github_pat_ + '::a\\n1'*n": lambda n: repeated("github_pat_", "::a\n1", n),
    "lives on + U+FDFA*n": lambda n: repeated("lives on ", "\ufdfa", n),
    "IBAN + U+2487*n": lambda n: repeated("IBAN ", "\u2487", n),
    "sk-proj- + U+2152*n": lambda n: repeated("sk-proj-", "\u2152", n),
}
