"""Operators' custom patterns: Unicode-aware like Python's re, yet unable to freeze the bot:
a catastrophic pattern is refused at start-up, and one that runs out of time on a message
keeps that message on-prem."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from bot.routing.policy import PolicyError, load_policy
from bot.routing.sensitive import SensitiveDetector
from tests.conftest import AppFactory, context_line
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import mention_event

# Python's re took 40 s on 25 words and no colon with this one.
THE_40_SECOND_PATTERN = r"(\w+\s?)+:"
MESSAGE = " ".join(f"word{i}" for i in range(25)) + " !"


def policy_with(tmp_path: Path, *patterns: str) -> Path:
    path = tmp_path / "policy.yaml"
    rules = "".join(
        f"    - name: p{i}\n      pattern: '{pattern}'\n" for i, pattern in enumerate(patterns)
    )
    path.write_text(f"sensitive:\n  custom_patterns:\n{rules}")
    return path


def detector_for(tmp_path: Path, *patterns: str) -> SensitiveDetector:
    return SensitiveDetector(load_policy(policy_with(tmp_path, *patterns)).sensitive
                             .detector_config())  # fmt: skip


def test_the_pattern_that_froze_re_is_fast(tmp_path: Path) -> None:
    detector = detector_for(tmp_path, THE_40_SECOND_PATTERN)
    started = time.process_time()
    assert detector.findings(MESSAGE * 40) == []
    assert time.process_time() - started < 1.0  # seconds of CPU; 40 s per 25 words before
    assert [f.category for f in detector.findings("Status report: ok")] == ["custom:p0"]


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(ab|a)+(ab|a)+c$", "backtracks catastrophically"),
        (r"(a+)+b", "backtracks catastrophically"),
        ("(", "not a valid regular expression"),
    ],
)
def test_a_catastrophic_or_broken_pattern_is_refused_at_start_up(
    tmp_path: Path, pattern: str, why: str
) -> None:
    with pytest.raises(PolicyError, match=why):
        load_policy(policy_with(tmp_path, pattern))


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"\bМолния\b", "статус проекта Молния готов"),
        (r"\bcafé\b", "the Café deal closes Friday"),
        (r"\bCUST-\d{6}\b", "customer CUST-١٢٣٤٥٦ called"),  # Arabic-Indic digits
        (r"project\s+falcon", "project\u2028falcon"),
        (r"(?<=id-)\d{4}", "account id-4821"),  # look-behind works as in re
    ],
)
def test_custom_patterns_keep_pythons_unicode_semantics(
    tmp_path: Path, pattern: str, text: str
) -> None:
    assert detector_for(tmp_path, pattern).findings(text)


def test_a_pattern_that_runs_out_of_time_on_a_message_counts_as_a_match(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Exponential on "qwqw…", which none of the start-up samples holds: accepted, then slow.
    detector = detector_for(tmp_path, r"(qw|q)+(qw|q)+z$")
    crafted = "qw" * 3000 + "!"
    with caplog.at_level(logging.WARNING):
        findings = detector.findings(crafted)
    assert [(f.start, f.end, f.category) for f in findings] == [(0, len(crafted), "custom:p0")]
    assert "ran out of time" in caplog.text


async def test_the_bot_answers_at_once_with_the_40_second_pattern_configured(
    tmp_path: Path,
    make_app: AppFactory,
    slack: FakeSlack,
    public: str,
    closed_server: FakeModelServer,
) -> None:
    app = await make_app(policy_file=policy_with(tmp_path, THE_40_SECOND_PATTERN))
    await app.sender.event(mention_event(MESSAGE, public))
    await app.sender.event(mention_event("deploy status: green", public))
    first, second = await slack.wait_for_posts(2, timeout=10)
    assert any("p0 mentioned" in context_line(p) for p in (first, second))
    assert closed_server.saw(MESSAGE)


def test_slow_patterns_cost_a_request_at_most_its_budget(tmp_path: Path) -> None:
    slow = r"(qw|q)+(qw|q)+z$"  # accepted at start-up, exponential on "qwqw…"
    detector = detector_for(tmp_path, *[slow] * 20)
    texts = ["qw" * 3000 + "!"] * 31  # a question and a 30-message thread
    started = time.monotonic()
    found = detector.categories(texts)
    elapsed = time.monotonic() - started
    assert found == {f"custom:p{i}" for i in range(20)}  # out of time counts as a match
    assert elapsed < 2.0  # seconds; 20 x 31 x 100 ms = 62 s without a shared budget
