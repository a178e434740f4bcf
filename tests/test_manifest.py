"""The Slack app manifest matches the code: every Web API method the code calls has its
scope, every event and interaction it listens to is subscribed, and the Messages tab's
prompts are the ones the app sets."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.slack.app_home import SUGGESTED_PROMPTS
from bot.slack.scopes import REQUIRED_SCOPES

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = yaml.safe_load((ROOT / "deploy" / "slack-manifest.yml").read_text())
SOURCES = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py"))

# The bot scope each method needs (Slack's method reference); methods needing none map to "".
SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_startStream": "chat:write",
    "chat_appendStream": "chat:write",
    "chat_stopStream": "chat:write",
    "assistant_threads_setStatus": "chat:write",
    "assistant_threads_setSuggestedPrompts": "assistant:write",
    "assistant_threads_setTitle": "assistant:write",
    "conversations_info": "channels:read",
    "conversations_replies": "channels:history",
    "users_info": "users:read",
    "files_info": "files:read",
    "views_publish": "",
    "auth_test": "",
}
# Events each listener needs subscribed (message events by conversation kind).
EVENTS = {
    "app_mention": ["app_mention"],
    "message": ["message.im"],
    "app_home_opened": ["app_home_opened"],
    "assistant_thread_started": ["assistant_thread_started"],
}


def test_every_method_the_code_calls_has_its_scope_in_the_manifest() -> None:
    called = set(re.findall(r"\.(chat_\w+|assistant_threads_\w+|conversations_\w+|users_\w+|"
                            r"files_\w+|views_\w+|auth_test)\(", SOURCES))  # fmt: skip
    assert "chat_startStream" in called  # the scan finds the calls
    unknown = called - SCOPES.keys()
    assert unknown == set(), f"add the scopes of {unknown} to this test and the manifest"
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    missing = {method: SCOPES[method] for method in called if SCOPES[method] not in scopes | {""}}
    assert missing == {}


def test_every_event_the_app_listens_to_is_subscribed() -> None:
    listened = set(re.findall(r"@app\.event\(\"(\w+)\"\)", SOURCES))
    assert {"app_mention", "app_home_opened"} <= listened
    subscribed = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    for event in listened:
        if event in EVENTS:
            assert set(EVENTS[event]) <= subscribed, event


def test_commands_shortcuts_and_buttons_are_declared() -> None:
    commands = {c["command"] for c in MANIFEST["features"]["slash_commands"]}
    assert set(re.findall(r"@app\.command\(\"(/\w+)\"\)", SOURCES)) <= commands
    callbacks = {s["callback_id"] for s in MANIFEST["features"]["shortcuts"]}
    assert "summarize_email" in callbacks
    assert re.search(r"@app\.action\(", SOURCES)  # feedback buttons need interactivity
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True


def test_the_agent_views_prompts_are_the_ones_the_app_sets() -> None:
    prompts = MANIFEST["features"]["agent_view"]["suggested_prompts"]
    assert prompts == [dict(p) for p in SUGGESTED_PROMPTS]
    assert len(prompts) <= 4  # Slack shows up to four


def test_the_manifest_asks_for_exactly_the_scopes_the_code_checks() -> None:
    """`hearthbot doctor` compares a token's scopes with REQUIRED_SCOPES."""
    assert sorted(MANIFEST["oauth_config"]["scopes"]["bot"]) == sorted(REQUIRED_SCOPES)
