"""Counting what became of each request, from what the Slack fake received: answered, told
an error, lost, duplicated. Each request's question carries a unique marker, which the fake
models repeat in their answers ("answer from <model> to: <question>")."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.loopback import wait_until
from tests.fakes.slack_api import FakeSlack

ANSWER_MARK = "answer from "
# Notices ("working on it", "number 3 in line") are neither answers nor sentences.
NOTICE_MARK = "⏳"


@dataclass
class Tally:
    """What became of a set of requests."""

    sent: int = 0
    answered: int = 0
    told: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    queued_notices: int = 0

    def row(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "answered": self.answered,
            "told": self.told,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
        }


def _text(message: dict[str, Any]) -> str:
    return str(message.get("text", ""))


def is_answer(message: dict[str, Any], marker: str) -> bool:
    """A model's answer to the question holding `marker`."""
    text = _text(message)
    return ANSWER_MARK in text and marker in text


def tally(
    slack: FakeSlack, markers: Sequence[str], threads_of: Mapping[str, str] | None = None
) -> Tally:
    """Each marker's request is answered (one answer), told (a sentence in its thread or
    through its response URL, keyed by the marker), or lost; more than one answer is a
    duplicate. A slash command's thread is found from its heading; a message's thread
    (its `ts`, or its thread's) is given in `threads_of`."""
    result = Tally(sent=len(markers))
    posts = slack.posts
    for marker in markers:
        answers = [p for p in posts if is_answer(p, marker)]
        answers += [p for p in slack.response_posts_by_key.get(marker, []) if is_answer(p, marker)]
        threads = {
            str(p.get("_ts"))
            for p in posts
            if marker in _text(p) and not p.get("thread_ts") and ANSWER_MARK not in _text(p)
        }
        if threads_of and marker in threads_of:
            threads.add(threads_of[marker])
        replies = [p for p in posts if str(p.get("thread_ts")) in threads]
        replies += slack.response_posts_by_key.get(marker, [])
        sentences = [
            r
            for r in replies
            if ANSWER_MARK not in _text(r) and not _text(r).startswith(NOTICE_MARK)
        ]
        result.queued_notices += sum(
            1 for r in replies if _text(r).startswith(NOTICE_MARK) and "in line" in _text(r)
        )
        if len(answers) > 1:
            result.duplicated.append(marker)
        if answers:
            result.answered += 1
        elif sentences:
            result.told += 1
        else:
            result.lost.append(marker)
    return result


async def settled(
    slack: FakeSlack,
    markers: Sequence[str],
    timeout_s: float = 30.0,
    threads_of: Mapping[str, str] | None = None,
) -> Tally:
    """The tally once every request is answered or told, or when `timeout_s` has passed;
    then a moment more, so that a duplicate on its way is counted too."""
    with contextlib.suppress(AssertionError):
        await wait_until(
            lambda: not tally(slack, markers, threads_of).lost, "every request settled", timeout_s
        )
    await asyncio.sleep(0.5)
    return tally(slack, markers, threads_of)
