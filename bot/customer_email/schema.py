"""The structured summary of a customer email."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Intent(StrEnum):
    """What the customer wants."""

    QUESTION = "question"
    COMPLAINT = "complaint"
    REFUND_OR_RETURN = "refund_or_return"
    BUG_REPORT = "bug_report"
    CANCELLATION = "cancellation"
    PURCHASE_INTENT = "purchase_intent"
    FEEDBACK = "feedback"
    OTHER = "other"


class Sentiment(StrEnum):
    """How the customer feels."""

    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"
    ANGRY = "angry"


class Urgency(StrEnum):
    """How soon someone should act."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class FactKind(StrEnum):
    """Kinds of key facts worth pulling out of an email."""

    ORDER_NUMBER = "order_number"
    TICKET_NUMBER = "ticket_number"
    AMOUNT = "amount"
    DATE = "date"
    PRODUCT = "product"
    ACCOUNT = "account"
    OTHER = "other"


class ActionItem(BaseModel):
    """Something someone has to do."""

    action: str = Field(max_length=300, description="a concrete action, imperative")
    owner: str | None = Field(
        default=None, max_length=80, description="who, if the email names them"
    )


class KeyFact(BaseModel):
    """An order or ticket number, an amount, a date, a product."""

    kind: FactKind
    value: str = Field(max_length=120, description="exactly as written in the email")


class EmailSummary(BaseModel):
    """A customer email, summarised for a support team."""

    customer_name: str | None = Field(default=None, max_length=120)
    company: str | None = Field(default=None, max_length=120)
    subject: str = Field(max_length=200, description="the email's subject, or a short title")
    summary: str = Field(max_length=700, description="at most three sentences")
    intent: Intent
    sentiment: Sentiment
    urgency: Urgency
    urgency_reason: str = Field(max_length=300)
    action_items: list[ActionItem] = Field(default_factory=list, max_length=8)
    key_facts: list[KeyFact] = Field(default_factory=list, max_length=12)
    language: str = Field(max_length=40, description="the email's language, e.g. English, French")
    reply_draft: str = Field(
        max_length=2500, description="a reply to the customer, in the email's language"
    )

    def as_text(self) -> str:
        """The summary as plain text, for memory and for notifications."""
        lines = [
            f"Subject: {self.subject}",
            f"Customer: {self.customer_name or '-'}{f' ({self.company})' if self.company else ''}",
            f"Intent: {self.intent.value}; sentiment: {self.sentiment.value}; "
            f"urgency: {self.urgency.value} ({self.urgency_reason})",
            f"Summary: {self.summary}",
        ]
        if self.action_items:
            lines.append(
                "Action items: "
                + "; ".join(
                    f"{a.action}{f' ({a.owner})' if a.owner else ''}" for a in self.action_items
                )
            )
        if self.key_facts:
            lines.append(
                "Key facts: " + "; ".join(f"{f.kind.value}: {f.value}" for f in self.key_facts)
            )
        lines.append(f"Language: {self.language}")
        lines.append(f"Suggested reply:\n{self.reply_draft}")
        return "\n".join(lines)
