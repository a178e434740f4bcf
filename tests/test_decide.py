"""The route decision, exhaustively over every input that matters."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bot.routing.channel import ChannelFacts, ChannelKind, facts_from_conversation
from bot.routing.decide import decide
from bot.routing.decision import Reason, Route
from bot.routing.policy import BuiltinRules, Policy, PolicyError, load_policy
from tests.fakes.slack_api import load

KIND_REASON = {
    ChannelKind.IM: Reason.DIRECT_MESSAGE,
    ChannelKind.MPIM: Reason.GROUP_DIRECT_MESSAGE,
    ChannelKind.PRIVATE: Reason.PRIVATE_CHANNEL,
    ChannelKind.UNKNOWN: Reason.UNKNOWN_CHANNEL,
}
SWITCH_FOR_KIND = {
    ChannelKind.IM: "direct_messages",
    ChannelKind.MPIM: "direct_messages",
    ChannelKind.PRIVATE: "private_channels",
    ChannelKind.UNKNOWN: "unknown_channels",
}


@pytest.mark.parametrize(
    ("kind", "ext_shared", "listed", "force_local", "closed", "switches"),
    list(
        itertools.product(
            list(ChannelKind),
            [False, True],
            [False, True],
            [False, True],
            [None, "gpt"],
            [(True, True, True, True), (False, False, False, False), (True, False, True, False)],
        )
    ),
)
def test_decision_over_all_inputs(
    kind: ChannelKind,
    ext_shared: bool,
    listed: bool,
    force_local: bool,
    closed: str | None,
    switches: tuple[bool, bool, bool, bool],
) -> None:
    rules = BuiltinRules(
        direct_messages=switches[0],
        private_channels=switches[1],
        shared_channels=switches[2],
        unknown_channels=switches[3],
    )
    policy = Policy(confidential_channels=("#secret-*",) if listed else (), builtin=rules)
    facts = ChannelFacts("C1", kind, name="secret-room", ext_shared=ext_shared)
    decision = decide(
        policy, facts, local_model="llama", closed_model=closed, force_local=force_local
    )

    expected: set[Reason] = set()
    if listed:
        expected.add(Reason.LISTED_CHANNEL)
    if kind in KIND_REASON and getattr(rules, SWITCH_FOR_KIND[kind]):
        expected.add(KIND_REASON[kind])
    if ext_shared and rules.shared_channels:
        expected.add(Reason.SHARED_CHANNEL)
    if force_local:
        expected.add(Reason.USER_FORCED_LOCAL)

    if expected:
        assert decision.route is Route.LOCAL
        assert set(decision.reasons) == expected
        assert decision.model == "llama"
    elif closed is None:
        assert decision.route is Route.LOCAL
        assert decision.reasons == (Reason.NO_CLOSED_MODEL,)
    else:
        assert decision.route is Route.CLOSED
        assert decision.model == "gpt"


@pytest.mark.parametrize(
    ("pattern", "channel_id", "name", "matches"),
    [
        ("C0LEGAL", "C0LEGAL", "legal", True),
        ("C0LEGAL", "C0OTHER", "legal", False),
        ("#legal", "C1", "legal", True),
        ("#legal", "C1", "Legal", True),
        ("#legal", "C1", "legal-ops", False),
        ("#hr-*", "C1", "hr-payroll", True),
        ("#hr-*", "C1", "hrx", False),
        ("#legal", "C1", None, False),
    ],
)
def test_channel_patterns(pattern: str, channel_id: str, name: str | None, matches: bool) -> None:
    assert Policy(confidential_channels=(pattern,)).lists_channel(channel_id, name) is matches


@pytest.mark.parametrize(
    ("fixture", "kind", "shared"),
    [
        ("conversations.info.public_channel", ChannelKind.PUBLIC, False),
        ("conversations.info.private_channel", ChannelKind.PRIVATE, False),
        ("conversations.info.mpim", ChannelKind.MPIM, False),
        ("conversations.info.im", ChannelKind.IM, False),
        ("conversations.info.ext_shared_channel", ChannelKind.PUBLIC, True),
    ],
)
def test_conversation_objects_from_slack_are_classified(
    fixture: str, kind: ChannelKind, shared: bool
) -> None:
    facts = facts_from_conversation("C1", load(fixture)["channel"])
    assert facts.kind is kind
    assert facts.ext_shared is shared


def test_a_conversation_without_privacy_flags_is_unknown() -> None:
    assert facts_from_conversation("C1", {"id": "C1", "name": "x"}).kind is ChannelKind.UNKNOWN


def test_policy_file_is_loaded_and_merged_with_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("confidential_channels: ['#legal']\nbuiltin:\n  private_channels: false\n")
    policy = load_policy(path, ["#hr-*", "#legal"])
    assert policy.confidential_channels == ("#legal", "#hr-*")
    assert policy.builtin.private_channels is False
    assert policy.builtin.direct_messages is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("builtin:\n  dms: false\n", "dms"),
        ("confidential_channels: legal\n", "confidential_channels"),
        ("- a\n- b\n", "mapping"),
        ("confidential_channels: [\n", "not valid YAML"),
    ],
)
def test_bad_policy_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_missing_policy_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "nope.yaml")


@pytest.mark.parametrize("kind", [ChannelKind.UNKNOWN, ChannelKind.PUBLIC, ChannelKind.PRIVATE])
def test_a_name_rule_holds_when_the_name_is_unknown(kind: ChannelKind) -> None:
    lenient = Policy(
        confidential_channels=("#deals-*",),
        builtin=BuiltinRules(
            direct_messages=False, private_channels=False, shared_channels=False,
            unknown_channels=False,
        ),
    )  # fmt: skip
    nameless = decide(lenient, ChannelFacts("C1", kind), local_model="l", closed_model="c")
    assert nameless.route is Route.LOCAL
    assert nameless.reasons == (Reason.CHANNEL_NAME_UNKNOWN,)
    named = decide(lenient, ChannelFacts("C1", kind, "general"), local_model="l", closed_model="c")
    assert named.route is Route.CLOSED
    by_id = Policy(confidential_channels=("C9",), builtin=lenient.builtin)
    nameless_by_id = decide(by_id, ChannelFacts("C1", kind), local_model="l", closed_model="c")
    assert nameless_by_id.route is Route.CLOSED  # an ID rule needs no name
