"""Structured summaries with any chat model: the JSON schema is enforced where the server
supports it (OpenAI-compatible `response_format`, Ollama's `format`), the answer is parsed
and validated here, an invalid answer gets one repair request, and after that a plain-text
summary is asked for. A model that breaks JSON never crashes a request."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from pydantic import ValidationError

from bot.customer_email.schema import EmailSummary
from bot.llm.prompts import Prompts

SCHEMA = EmailSummary.model_json_schema()
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


class SummaryParseError(ValueError):
    """The model's answer is not a valid summary."""


def parse_summary(text: str) -> EmailSummary:
    """The summary in a model's answer: a JSON object, possibly fenced or with prose around."""
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise SummaryParseError("no JSON object in the answer")
    try:
        return EmailSummary.model_validate(json.loads(body[start : end + 1]))
    except json.JSONDecodeError as exc:
        raise SummaryParseError(f"invalid JSON: {exc.msg} at character {exc.pos}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'object'}: {e['msg']}"
            for e in exc.errors()[:6]
        )
        raise SummaryParseError(problems) from None


def bind_schema(
    model: BaseChatModel, provider: str
) -> Runnable[Sequence[BaseMessage], BaseMessage]:
    """The model, constrained to the summary's JSON schema where its server can do that."""
    if provider == "ollama":
        return model.bind(format=SCHEMA)
    if provider in {"openai", "embedded"}:
        # Sent as a plain body field: given as `response_format`, langchain-openai switches
        # to the SDK's parse helper, which raises instead of returning an answer cut off at
        # the token limit, and a cut-off answer is exactly what the repair step is for.
        return model.bind(
            temperature=0,  # extraction, not creativity; and the same email, the same summary
            extra_body={
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "email_summary", "schema": SCHEMA, "strict": False},
                }
            },
        )
    return model  # Anthropic: the prompt asks for JSON, and the parser checks it


@dataclass(frozen=True)
class SummaryAttempt:
    """What one model produced: a summary, or a plain-text fallback, and the tokens spent."""

    summary: EmailSummary | None
    plain_text: str | None
    attempts: int
    input_tokens: int
    output_tokens: int


def _tokens(message: BaseMessage) -> tuple[int, int]:
    usage = getattr(message, "usage_metadata", None) or {}
    return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))


async def summarize_with(
    model: BaseChatModel,
    provider: str,
    prompts: Prompts,
    *,
    email_text: str,
    instruction: str,
    context: Sequence[BaseMessage] = (),
) -> SummaryAttempt:
    """Ask one model for the summary; repair once; then fall back to plain text."""
    answer_language = (
        "the language of this request: " + instruction
        if instruction.strip()
        else "the email's language"
    )
    system = SystemMessage(
        prompts.email_summary.replace("{answer_language}", answer_language)
        + "\n\nJSON schema:\n"
        + json.dumps(SCHEMA, separators=(",", ":"))
    )
    messages: list[BaseMessage] = [
        system,
        *context,
        HumanMessage(f"Customer email:\n\n{email_text}"),
    ]
    spent_in = spent_out = 0
    constrained = bind_schema(model, provider)
    first = await constrained.ainvoke(messages)
    tokens = _tokens(first)
    spent_in, spent_out = spent_in + tokens[0], spent_out + tokens[1]
    try:
        return SummaryAttempt(parse_summary(first.text), None, 1, spent_in, spent_out)
    except SummaryParseError as exc:
        repair = [
            *messages,
            AIMessage(first.text),
            HumanMessage(prompts.email_repair.format(error=exc)),
        ]
    second = await constrained.ainvoke(repair)
    tokens = _tokens(second)
    spent_in, spent_out = spent_in + tokens[0], spent_out + tokens[1]
    try:
        return SummaryAttempt(parse_summary(second.text), None, 2, spent_in, spent_out)
    except SummaryParseError:
        pass
    plain = await model.ainvoke(
        [
            SystemMessage(prompts.email_plain_summary),
            HumanMessage(f"Customer email:\n\n{email_text}"),
        ]
    )
    tokens = _tokens(plain)
    return SummaryAttempt(None, plain.text.strip(), 3, spent_in + tokens[0], spent_out + tokens[1])
