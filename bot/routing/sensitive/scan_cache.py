"""What was scanned already: the categories found in each text, by the text's digest.

Every turn of a conversation sends the router the same thread messages and memory again,
and a slash command's question is scanned for its heading before it is scanned for its
route. Keyed by content (a 128-bit BLAKE2b digest), one entry serves all of them: a thread
message is found whatever channel and ts it is read under, and an edited message (same ts,
new text) is a new entry, never a stale one. Bounded (least recently used out first) and
per process; the detector's results depend only on the text and its configuration, which is
fixed for the process's life.

`functools.lru_cache` would key on the texts themselves and keep them all in memory; this
keeps 16 bytes per text and never the text.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable

DEFAULT_ENTRIES = 50_000


def digest(text: str) -> bytes:
    """The key of a text (lone surrogates, which Slack's JSON can carry, included)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class ScanCache:
    """Categories by text digest; safe to share between threads (the router scans in a
    worker thread)."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, frozenset[str]] = OrderedDict()
        # One frozenset per distinct result: most texts share a handful of them.
        self._shared: dict[frozenset[str], frozenset[str]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def get(self, key: bytes) -> frozenset[str] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: bytes, categories: Iterable[str]) -> None:
        value = frozenset(categories)
        with self._lock:
            value = self._shared.setdefault(value, value)
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
