"""Fitting one request into the on-prem model's context window: pure functions.

The question must fit whole (cutting it would answer a different question); the thread and
the conversation memory give way, oldest first. Tokens are estimated, not counted: no
tokenizer of the deployed model is at hand, so the estimate errs on the long side (one
token per three bytes of UTF-8, where English averages about four characters a token and
Chinese or Japanese about one), and a request that still does not fit is told apart from an
outage by the model server's own 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import trim_messages

# Per message: role markers and separators of the chat template.
MESSAGE_OVERHEAD_TOKENS = 8
# Headroom for the template and for the estimate's error.
MARGIN_TOKENS = 64
TRUNCATION_MARK = " […]"


class TooLong(Exception):
    """The question alone does not fit the model's context."""

    def __init__(self, tokens: int, budget: int) -> None:
        super().__init__(f"about {tokens} tokens where {budget} fit")
        self.tokens = tokens
        self.budget = budget


def estimate_tokens(text: str) -> int:
    """A deliberately high estimate of the tokens `text` takes."""
    return len(text.encode("utf-8")) // 3 + 1


def count_message_tokens(messages: Sequence[BaseMessage]) -> int:
    """`estimate_tokens` over chat messages, with each message's overhead."""
    return sum(estimate_tokens(m.text) + MESSAGE_OVERHEAD_TOKENS for m in messages)


@dataclass(frozen=True)
class ContextBudget:
    """How many tokens a request may take: the window less the answer and the prompts."""

    window: int
    answer_tokens: int
    fixed_text: str  # system prompt and thread-context wrapper, sent with every request
    memory_tokens: int  # MEMORY_TOKEN_BUDGET: the most memory any request carries

    @property
    def input_tokens(self) -> int:
        """Tokens left for question, thread and memory."""
        fixed = estimate_tokens(self.fixed_text) + 2 * MESSAGE_OVERHEAD_TOKENS
        return max(0, self.window - self.answer_tokens - fixed - MARGIN_TOKENS)


@dataclass(frozen=True)
class FittedRequest:
    """What goes to the model: the question whole, the newest thread lines and memory that fit."""

    thread: tuple[str, ...]
    history: tuple[BaseMessage, ...]
    dropped_thread_lines: int
    dropped_messages: int


def fit(
    budget: ContextBudget,
    question: str,
    thread: Sequence[str],
    history: Sequence[BaseMessage],
) -> FittedRequest:
    """Fit a request into `budget`; raises `TooLong` when the question alone does not fit."""
    available = budget.input_tokens
    needed = estimate_tokens(question) + MESSAGE_OVERHEAD_TOKENS
    if needed > available:
        raise TooLong(needed, available)
    left = available - needed
    # Memory (the conversation with the bot) first, up to its own budget and half of what
    # is left; the thread (what people wrote around the question) takes the rest.
    kept_history = _newest_messages(history, min(budget.memory_tokens, left // 2))
    left -= count_message_tokens(kept_history)
    kept_thread = _newest_lines(thread, left)
    return FittedRequest(
        thread=tuple(kept_thread),
        history=tuple(kept_history),
        dropped_thread_lines=len(thread) - len(kept_thread),
        dropped_messages=len(history) - len(kept_history),
    )


def _newest_messages(messages: Sequence[BaseMessage], tokens: int) -> list[BaseMessage]:
    if not messages or tokens <= 0:
        return []
    return trim_messages(
        list(messages),
        max_tokens=tokens,
        token_counter=count_message_tokens,
        strategy="last",
        start_on="human",
        allow_partial=False,
    )


def _newest_lines(lines: Sequence[str], tokens: int) -> list[str]:
    """The newest lines that fit; the oldest line kept may be cut at its start."""
    kept: list[str] = []
    left = tokens
    for line in reversed(lines):
        cost = estimate_tokens(line) + 1
        if cost <= left:
            kept.append(line)
            left -= cost
            continue
        room = (left - estimate_tokens(TRUNCATION_MARK) - 2) * 3
        if room > 0:
            kept.append(TRUNCATION_MARK.strip() + " " + _tail_bytes(line, room))
        break
    kept.reverse()
    return kept


def _tail_bytes(text: str, size: int) -> str:
    """The end of `text` in at most `size` bytes of UTF-8, cut on a character boundary."""
    data = text.encode("utf-8")
    return data[-size:].decode("utf-8", errors="ignore") if len(data) > size else text
