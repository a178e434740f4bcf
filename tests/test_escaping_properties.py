"""Properties of the escaping of untrusted (model-written) text, for any text at all."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.slack.formatting import escape_untrusted, inert_user_text

# Text built from Slack's control characters and the pieces of its control sequences.
PIECES = [*"<>&!@#|^;: \n\tabU0", "&amp;", "&lt;", "&gt;", "<!", "<@", "https://"]
slackish = st.lists(st.sampled_from(PIECES), max_size=80).map("".join) | st.text(max_size=200)


def slack_decode(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@given(slackish)
def test_escaped_text_has_no_control_sequence_and_only_slacks_entities(text: str) -> None:
    out = escape_untrusted(text)
    assert "<" not in out
    assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*", out, re.DOTALL)
    # Only a `>` opening a line (a block quote) is left bare.
    for line in out.split("\n"):
        assert ">" not in line.lstrip(" \t")[1:]


@given(slackish)
def test_escaping_shows_what_the_model_wrote(text: str) -> None:
    # What a reader sees is the model's text, with Slack's own entities read once.
    assert slack_decode(escape_untrusted(text)) == slack_decode(text)


@given(slackish)
def test_a_persons_quoted_text_opens_no_control_sequence(text: str) -> None:
    assert "<" not in inert_user_text(text)
