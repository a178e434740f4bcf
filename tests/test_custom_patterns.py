"""Operators' custom patterns run in linear time (RE2): a catastrophic pattern can neither
freeze the bot nor slip past start-up unchecked."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.routing.policy import PolicyError, load_policy
from bot.routing.sensitive import SensitiveDetector
from tests.conftest import AppFactory, context_line
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import mention_event

CATASTROPHIC = r"(\w+\s?)+:"
# 25 words and no colon: Python's backtracking engine took 40 s on this.
MESSAGE = " ".join(f"word{i}" for i in range(25)) + " !"


def policy_with(tmp_path: Path, pattern: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(
        f"sensitive:\n  custom_patterns:\n    - name: label\n      pattern: '{pattern}'\n"
    )
    return path


def test_a_catastrophic_pattern_runs_in_linear_time(tmp_path: Path) -> None:
    detector = SensitiveDetector(load_policy(policy_with(tmp_path, CATASTROPHIC)).sensitive
                                 .detector_config())  # fmt: skip
    started = time.perf_counter()
    assert detector.findings(MESSAGE * 40) == []
    assert time.perf_counter() - started < 1.0  # seconds; 40 s per 25 words before
    assert [f.category for f in detector.findings("Status report: ok")] == ["custom:label"]


@pytest.mark.parametrize("pattern", [r"(?<=id-)\d+", r"(a)\1", r"(?=x)y", "("])
def test_a_pattern_that_needs_backtracking_is_refused_at_start_up(
    tmp_path: Path, pattern: str
) -> None:
    with pytest.raises(PolicyError, match="linear time"):
        load_policy(policy_with(tmp_path, pattern))


async def test_the_bot_answers_at_once_with_a_catastrophic_pattern_configured(
    tmp_path: Path,
    make_app: AppFactory,
    slack: FakeSlack,
    public: str,
    closed_server: FakeModelServer,
) -> None:
    app = await make_app(policy_file=policy_with(tmp_path, CATASTROPHIC))
    await app.sender.event(mention_event(MESSAGE, public))
    await app.sender.event(mention_event("deploy status: green", public))
    first, second = await slack.wait_for_posts(2, timeout=10)
    routes = sorted([context_line(first), context_line(second)])
    assert any("label mentioned" in line for line in routes)
    assert closed_server.saw(MESSAGE)
