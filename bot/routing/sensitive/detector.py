"""The detector: which categories of sensitive data a text holds, and where."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

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


class SensitiveDetector:
    """Finds sensitive data. Pure: no I/O, safe to share between requests."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()

    def findings(self, text: str, *, custom_deadline: float | None = None) -> list[Finding]:
        """Every finding in `text` (after undoing Unicode tricks), in order of position.

        Custom patterns share `custom_deadline` (a `time.monotonic()` value) when given.
        """
        clean = normalize(text)
        found: list[Finding] = []
        for category in self.config.categories:
            for start, end, kind in _FINDERS[category](clean):
                found.append(Finding(start, end, category.value, kind))
        if self.config.custom and custom_deadline is None:
            custom_deadline = time.monotonic() + REQUEST_BUDGET_S
        for custom in self.config.custom:
            assert custom_deadline is not None
            left = min(RUN_TIMEOUT_S, custom_deadline - time.monotonic())
            for start, end in custom.regex.spans(clean, left):
                found.append(Finding(start, end, f"custom:{custom.name}", custom.name))
        return sorted(found)

    def values(self, text: str) -> list[str]:
        """The sensitive data itself (normalised), for withholding what was written privately."""
        clean = normalize(text)
        return [clean[f.start : f.end] for f in self.findings(text)]

    def categories(self, texts: Iterable[str]) -> frozenset[str]:
        """The categories found anywhere in `texts` (custom patterns share one budget)."""
        deadline = time.monotonic() + REQUEST_BUDGET_S
        return frozenset(
            f.category for text in texts for f in self.findings(text, custom_deadline=deadline)
        )

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
        return [
            (f.start, f.end, f.category)
            for f in self.findings(clean)
            if wanted is None or f.category in wanted
        ]


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
