"""The bot token scopes hearthbot needs (deploy/slack-manifest.yml asks for exactly these;
tests/test_manifest.py keeps the two in step), and what each one is for."""

from __future__ import annotations

REQUIRED_SCOPES: dict[str, str] = {
    "app_mentions:read": "mentions of the bot",
    "chat:write": "answers, streaming, status and feedback thanks",
    "assistant:write": "suggested prompts and thread titles in the Messages tab",
    "commands": "the /ask command",
    "channels:read": "telling public channels from others (routing)",
    "groups:read": "telling private channels (routing)",
    "im:read": "telling DMs (routing)",
    "mpim:read": "telling group DMs (routing)",
    "channels:history": "reading the thread in public channels",
    "groups:history": "reading the thread in private channels",
    "im:history": "DMs to the bot",
    "mpim:history": "reading the thread in group DMs",
    "files:read": "pasted and shared customer emails",
}


def missing_scopes(granted: str) -> list[str]:
    """The required scopes a token lacks, from Slack's `x-oauth-scopes` header. Pure."""
    have = {scope.strip() for scope in granted.split(",") if scope.strip()}
    return [scope for scope in REQUIRED_SCOPES if scope not in have]
