"""The detector: which categories of sensitive data a text holds, and where."""

from __future__ import annotations

import hashlib
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib.metadata import version
from pathlib import Path

from bot.routing.sensitive.addresses import find_addresses
from bot.routing.sensitive.custom_patterns import (
    REQUEST_BUDGET_S,
    RUN_TIMEOUT_S,
    BoundedPattern,
)
from bot.routing.sensitive.normalize import normalize
from bot.routing.sensitive.pii import (
    find_cards,
    find_dates_of_birth,
    find_emails,
    find_ibans,
    find_ips,
    find_national_ids,
    find_person_names,
    find_phones,
)
from bot.routing.sensitive.scan_cache import ScanCache, digest
from bot.routing.sensitive.secrets import find_secrets


class Category(StrEnum):
    """A kind of sensitive data. Values appear in route reasons as `sensitive:<value>`."""

    EMAIL = "email"
    PHONE = "phone"
    CREDIT_CARD = "credit_card"
    IBAN = "iban"
    NATIONAL_ID = "national_id"
    IP_ADDRESS = "ip_address"
    STREET_ADDRESS = "street_address"
    DATE_OF_BIRTH = "date_of_birth"
    SECRET = "secret"
    PERSON_NAME = "person_name"


# Names are off by default: nearly every work message has one.
DEFAULT_CATEGORIES = frozenset(Category) - {Category.PERSON_NAME}

_FINDERS: dict[Category, Callable[[str], Iterator[tuple[int, int, str]]]] = {
    Category.EMAIL: find_emails,
    Category.PHONE: find_phones,
    Category.CREDIT_CARD: find_cards,
    Category.IBAN: find_ibans,
    Category.NATIONAL_ID: find_national_ids,
    Category.IP_ADDRESS: find_ips,
    Category.STREET_ADDRESS: find_addresses,
    Category.DATE_OF_BIRTH: find_dates_of_birth,
    Category.SECRET: find_secrets,
    Category.PERSON_NAME: find_person_names,
}


@dataclass(frozen=True)
class CustomPattern:
    """An organisation's own sensitive pattern, e.g. project code names or customer IDs
    (run with a deadline, see `linear`)."""

    name: str
    regex: BoundedPattern


@dataclass(frozen=True)
class DetectorConfig:
    """Which categories are on, and the custom patterns."""

    categories: frozenset[Category] = DEFAULT_CATEGORIES
    custom: tuple[CustomPattern, ...] = ()


@dataclass(frozen=True, order=True)
class Finding:
    """Sensitive data found at [start, end) of the normalised text."""

    start: int
    end: int
    category: str = field(compare=False)
    kind: str = field(compare=False)
    # A custom pattern that ran out of time: counted as matching, for this scan only.
    timed_out: bool = field(default=False, compare=False)


@cache
def _code_version() -> str:
    """A digest of the detector's own code, the pattern libraries it runs and the Unicode
    tables it normalises with: a change to any of them may change what it finds."""
    code = hashlib.blake2b(digest_size=8)
    for source in sorted(Path(__file__).parent.glob("*.py")):
        code.update(source.read_bytes())
    for package in ("detect-secrets", "google-re2", "regex"):
        code.update(f"{package} {version(package)}".encode())
    code.update(f"unicode {unicodedata.unidata_version}".encode())
    return code.hexdigest()


# What `scan_work` counts a scan that runs custom patterns as: never short enough to run
# on the event loop.
LONG_SCAN = 1 << 30


class SensitiveDetector:
    """Finds sensitive data. Pure (no I/O) and safe to share between requests and threads;
    with a `cache`, a text already scanned is not scanned again by `categories`."""

    def __init__(self, config: DetectorConfig | None = None, *, cache: ScanCache | None = None):
        self.config = config or DetectorConfig()
        self.cache = cache

    @property
    def version(self) -> str:
        """Identifies what this detector finds: its code and its configuration. Findings
        stored with another version are not to be trusted (they are scanned again)."""
        config = hashlib.blake2b(digest_size=8)
        config.update(",".join(sorted(self.config.categories)).encode())
        for custom in self.config.custom:
            pattern = custom.regex.compiled
            config.update(f"\0{custom.name}\0{pattern.pattern}\0{pattern.flags}".encode())
        return f"{_code_version()}-{config.hexdigest()}"

    def findings(
        self,
        text: str,
        *,
        custom_deadline: float | None = None,
        only: frozenset[str] | None = None,
    ) -> list[Finding]:
        """Every finding in `text` (after undoing Unicode tricks), in order of position;
        with `only`, just those categories (the others' finders are not run).

        Custom patterns share `custom_deadline` (a `time.monotonic()` value) when given.
        """
        clean = normalize(text)
        found: list[Finding] = []
        for category in self.config.categories:
            if only is not None and category.value not in only:
                continue
            for start, end, kind in _FINDERS[category](clean):
                found.append(Finding(start, end, category.value, kind))
        customs = [c for c in self.config.custom if only is None or f"custom:{c.name}" in only]
        if customs and custom_deadline is None:
            custom_deadline = time.monotonic() + REQUEST_BUDGET_S
        for custom in customs:
            assert custom_deadline is not None
            left = min(RUN_TIMEOUT_S, custom_deadline - time.monotonic())
            spans, timed_out = custom.regex.search(clean, left)
            for start, end in spans:
                found.append(
                    Finding(start, end, f"custom:{custom.name}", custom.name, timed_out=timed_out)
                )
        return sorted(found)

    def values(self, text: str) -> list[str]:
        """The sensitive data itself (normalised), for withholding what was written privately."""
        return self.values_and_categories(text)[0]

    def values_and_categories(self, text: str) -> tuple[list[str], frozenset[str]]:
        """The sensitive data itself (normalised) and its categories, in one scan (which the
        cache remembers for `categories`)."""
        clean = normalize(text)
        found = self._scan(text)
        return [clean[f.start : f.end] for f in found], _categories_of(found)

    def remembered(self, text: str) -> frozenset[str] | None:
        """The categories in `text` as the cache knows them (scanned now if need be), or None
        when they cannot be kept: a custom pattern ran out of time on it."""
        known = self._cached(text)
        if known is not None:
            return known
        found = self._scan(text)
        return None if any(f.timed_out for f in found) else _categories_of(found)

    def _cached(self, text: str) -> frozenset[str] | None:
        return self.cache.get(digest(text)) if self.cache is not None else None

    def _scan(self, text: str, custom_deadline: float | None = None) -> list[Finding]:
        """`findings`, remembered by the cache unless a custom pattern ran out of time (it
        counts as matching, fail closed: right for this request, not to be remembered for
        the next, since it depends on how busy the machine is)."""
        found = self.findings(text, custom_deadline=custom_deadline)
        if self.cache is not None and not any(f.timed_out for f in found):
            self.cache.put(digest(text), _categories_of(found))
        return found

    def scan_work(self, texts: Iterable[str], *, cached: bool = True) -> int:
        """How much scanning `categories` (or, with `cached` False, a fresh scan) would do
        on `texts`, in characters. Custom patterns may each take up to RUN_TIMEOUT_S on a
        text of any length: a scan that runs them counts as `LONG_SCAN`."""
        cache = self.cache if cached else None
        chars = sum(len(t) for t in texts if cache is None or digest(t) not in cache)
        return LONG_SCAN if chars and self.config.custom else chars

    def categories(self, texts: Iterable[str]) -> frozenset[str]:
        """The categories found anywhere in `texts` (custom patterns share one budget).
        A text the cache has seen is not scanned again."""
        deadline = time.monotonic() + REQUEST_BUDGET_S
        result: set[str] = set()
        for text in texts:
            known = self._cached(text)
            if known is None:
                known = _categories_of(self._scan(text, deadline))
            result |= known
        return frozenset(result)

    def redact(
        self, text: str, *, only: Iterable[str] | None = None, mark: str | None = None
    ) -> str:
        """`text` (normalised) with every finding replaced by `[category]`, or by `mark`; with
        `only`, just the findings of those categories. For DEBUG logs."""
        clean = normalize(text)
        spans = self.spans(clean, only=only)
        return replace_spans(clean, [(s, e, mark or f"[{c}]") for s, e, c in spans])

    def spans(self, clean: str, *, only: Iterable[str] | None = None) -> list[tuple[int, int, str]]:
        """(start, end, category) of the findings in already normalised text."""
        wanted = None if only is None else frozenset(only)
        return [(f.start, f.end, f.category) for f in self.findings(clean, only=wanted)]

    def runs_custom_patterns(self, categories: Iterable[str] | None = None) -> bool:
        """True when scanning for `categories` (all, when None) runs a custom pattern, which
        may take up to RUN_TIMEOUT_S on a text of any length."""
        wanted = None if categories is None else frozenset(categories)
        return any(wanted is None or f"custom:{c.name}" in wanted for c in self.config.custom)


def _categories_of(found: Iterable[Finding]) -> frozenset[str]:
    return frozenset(f.category for f in found)


def replace_spans(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """`text` with each (start, end) replaced by its string; overlapping spans merge into the
    first one's replacement."""
    out: list[str] = []
    position = 0
    for start, end, replacement in sorted(spans):
        if start < position:
            position = max(position, end)
            continue
        out.append(text[position:start])
        out.append(replacement)
        position = end
    out.append(text[position:])
    return "".join(out)
