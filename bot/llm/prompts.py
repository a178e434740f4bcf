"""Prompt texts live as files in `prompts/`; this module reads them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# bot/prompts: a link to the repository's prompts/ in a checkout, the files themselves once
# installed from a wheel.
PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"


def read_prompt(name: str, directory: Path = PROMPTS_DIR) -> str:
    """The text of `prompts/<name>.md`, without trailing whitespace."""
    return (directory / f"{name}.md").read_text(encoding="utf-8").rstrip()


@dataclass(frozen=True)
class Prompts:
    """Every prompt text the bot uses."""

    answer_system: str
    thread_context: str
    email_summary: str
    email_repair: str
    email_plain_summary: str

    @classmethod
    def load(cls, directory: Path = PROMPTS_DIR) -> Prompts:
        """Read all prompt files; a missing file fails start-up, not a request."""
        return cls(
            answer_system=read_prompt("answer_system", directory),
            thread_context=read_prompt("thread_context", directory),
            email_summary=read_prompt("email_summary", directory),
            email_repair=read_prompt("email_repair", directory),
            email_plain_summary=read_prompt("email_plain_summary", directory),
        )
