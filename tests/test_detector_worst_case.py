"""The detector's worst case on adversarial input: at most 5 ms of CPU per KB, up to 40 KB,
for every finder and for the whole detector. Hypothesis searches the space of prefixes and
repeated tokens (the shapes that make regular expressions backtrack) for slow inputs.

CPU time of this thread is measured (not wall time, nor the process's: threads that other
tests left running would count), best of three runs, so other work on the machine does not
fail the test; the bound is the issue's, 5 ms/KB.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.routing.sensitive import Category, DetectorConfig, SensitiveDetector
from bot.routing.sensitive.adversarial import KNOWN_SLOW, PREFIXES, TOKENS, repeated
from bot.routing.sensitive.detector import _FINDERS
from bot.routing.sensitive.normalize import normalize

MS_PER_KB = 5.0
SIZE = 40_000
DETECTOR = SensitiveDetector(DetectorConfig(categories=frozenset(Category)))


def cpu_ms_per_kb(scan: Callable[[str], object], text: str, size: int = SIZE) -> float:
    """Best of three CPU times of `scan(text)`, per KB of the `size` characters given."""
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        scan(text)
        best = min(best, time.thread_time() - started)
    return best * 1000 / (size / 1000)


def scan_all(text: str) -> object:
    return DETECTOR.findings(text)


@pytest.mark.parametrize("family", list(KNOWN_SLOW))
def test_shapes_that_were_slow_are_linear_now(family: str) -> None:
    assert cpu_ms_per_kb(scan_all, KNOWN_SLOW[family](SIZE)) <= MS_PER_KB


@pytest.mark.parametrize("category", list(Category))
@pytest.mark.parametrize("token", TOKENS)
def test_every_finder_is_linear_on_every_repeated_token(category: Category, token: str) -> None:
    finder = _FINDERS[category]
    text = normalize(repeated("", token, SIZE))
    assert cpu_ms_per_kb(lambda t: list(finder(t)), text) <= MS_PER_KB


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(
    prefix=st.sampled_from(PREFIXES),
    token=st.sampled_from(TOKENS) | st.lists(st.sampled_from(TOKENS), max_size=4).map("".join),
    size=st.sampled_from([10_000, 20_000, SIZE]),
)
def test_no_prefix_and_token_combination_is_slow(prefix: str, token: str, size: int) -> None:
    if not token:
        token = " "
    assert cpu_ms_per_kb(scan_all, repeated(prefix, token, size), size) <= MS_PER_KB
