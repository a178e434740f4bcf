"""The console's pure parts: access rules, highlighted spans, chart series, channels."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.audit import AuditRecord
from bot.cli.console import console_url
from bot.console.access import ConsoleAccess, host_header_name, is_loopback_host
from bot.console.channels import is_listed, playground_channels
from bot.console.charts import (
    PERIODS,
    Filters,
    build_charts,
    table_rows,
    totals,
    window_seconds,
)
from bot.console.slack_sign_in import (
    SignInRefused,
    SlackSignIn,
    id_token_claims,
    signed_in_user,
)
from bot.routing.channel import ChannelKind
from bot.routing.decision import describe_reason
from bot.routing.policy import Policy
from bot.routing.report import segments
from bot.routing.sensitive.detector import Finding

NOW = 1_790_000_000.0


def test_sessions_are_signed_and_expire() -> None:
    access = ConsoleAccess.create("a-long-operator-token-123")
    session, cookie = access.new_session(NOW, signed_in=True)
    assert access.read_session(cookie, NOW) == session
    assert access.read_session(cookie, NOW + 13 * 3600) is None  # expired
    # Another token (or a restart without one) invalidates every cookie.
    assert ConsoleAccess.create("another-operator-token-12").read_session(cookie, NOW) is None
    assert ConsoleAccess.create(None).read_session(cookie, NOW) is None
    nonce, expires, flag, user, signature = cookie.split(".")
    assert user == ""
    # Promoting a signed-out session, stretching its expiry or naming another user breaks
    # the signature.
    _, out_cookie = access.new_session(NOW, signed_in=False)
    out = out_cookie.split(".")
    assert out[2] == "0"
    assert access.read_session(".".join([*out[:2], "1", *out[3:]]), NOW) is None
    assert access.read_session(f"{nonce}.{int(expires) + 999}.{flag}..{signature}", NOW) is None
    assert access.read_session(f"{nonce}.{expires}.{flag}.U0ADMIN.{signature}", NOW) is None
    slack_session, slack_cookie = access.new_session(NOW, signed_in=True, user="U0ADMIN")
    assert access.read_session(slack_cookie, NOW) == slack_session
    assert slack_session.user == "U0ADMIN"
    with pytest.raises(ValueError, match="Slack user ID"):
        access.new_session(NOW, signed_in=True, user="u.1")
    for garbage in ("", "x", "...", "a.b.c.d", "x" * 500, None):
        assert access.read_session(garbage, NOW) is None


@given(st.text(max_size=120))
def test_no_forged_cookie_token_or_csrf_token_passes(text: str) -> None:
    """Whatever a client sends (any character, lone surrogates too): refused, no crash."""
    access = ConsoleAccess.create("a-long-operator-token-123")
    session, _ = access.new_session(NOW, signed_in=True)
    assert access.read_session(text, NOW) is None
    assert not access.csrf_ok(session, text)
    assert not access.token_ok(text)


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=200), st.characters(codec="ascii"))
def test_any_changed_character_breaks_the_cookie(position: int, char: str) -> None:
    access = ConsoleAccess.create(None)
    _, cookie = access.new_session(NOW, signed_in=True)
    i = position % len(cookie)
    changed = cookie[:i] + char + cookie[i + 1 :]
    if changed != cookie:
        assert access.read_session(changed, NOW) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    access = ConsoleAccess.create(None)
    mine, _ = access.new_session(NOW, signed_in=True)
    theirs, _ = access.new_session(NOW, signed_in=True)
    token = access.csrf_token(mine)
    assert access.csrf_ok(mine, token)
    assert not access.csrf_ok(theirs, token)
    assert not access.csrf_ok(mine, token[:-1])
    assert not access.csrf_ok(mine, "")
    assert not access.csrf_ok(None, token)


def test_the_token_is_compared_whole() -> None:
    access = ConsoleAccess.create("a-long-operator-token-123")
    assert access.token_ok("a-long-operator-token-123")
    for wrong in ("a-long-operator-token-12", "a-long-operator-token-1234", "", None):
        assert not access.token_ok(wrong)
    assert not ConsoleAccess.create(None).token_ok("anything-at-all-123")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("app.localhost", True),
        ("0.0.0.0", False),  # noqa: S104
        ("::", False),
        ("10.0.0.1", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:3000", "127.0.0.1"),
        ("localhost", "localhost"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("evil.example:80", "evil.example"),
    ],
)
def test_host_header_names(header: str, name: str) -> None:
    assert host_header_name(header) == name


def test_console_urls() -> None:
    assert console_url("127.0.0.1", 3000) == "http://127.0.0.1:3000/console"
    assert console_url("0.0.0.0", 80) == "http://127.0.0.1:80/console"  # noqa: S104
    assert console_url("::1", 3000) == "http://[::1]:3000/console"
    assert console_url("::", 3000) == "http://[::1]:3000/console"


findings_strategy = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 20), st.sampled_from(["email", "iban", "phone"])),
    max_size=8,
)


@given(st.text(max_size=60), findings_strategy)
def test_segments_cover_the_text_and_exactly_the_findings(
    text: str, raw: list[tuple[int, int, str]]
) -> None:
    findings = [Finding(min(s, len(text)), min(s + n, len(text)), c, c) for s, n, c in raw]
    runs = segments(text, findings)
    assert "".join(r.text for r in runs) == text
    marked = set()
    position = 0
    for run in runs:
        assert run.text  # no empty runs
        if run.category is not None:
            marked |= set(range(position, position + len(run.text)))
        position += len(run.text)
    covered = {i for f in findings for i in range(f.start, f.end)}
    assert marked == covered
    # Each highlighted run is in the category of a finding that starts it.
    position = 0
    for run in runs:
        if run.category is not None:
            assert any(f.start == position and f.category == run.category for f in findings)
        position += len(run.text)


def test_overlapping_findings_say_every_category() -> None:
    text = "IBAN DE89 3704 0044 0532 0130 00"
    runs = segments(text, [Finding(5, 32, "iban", "iban"), Finding(10, 24, "phone", "phone")])
    assert [(r.text, r.category, r.also) for r in runs] == [
        ("IBAN ", None, ()),
        ("DE89 3704 0044 0532 0130 00", "iban", ("phone",)),
    ]


def record(at: float, route: str = "local", **fields: object) -> AuditRecord:
    values: dict[str, object] = {
        "team": "T1",
        "channel": "C1",
        "thread": "1.0",
        "user": "U1",
        "route": route,
        "reasons": ("private_channel",) if route == "local" else ("default",),
        "model": "llama" if route == "local" else "gpt",
        "answered_by": "llama" if route == "local" else "gpt",
        "outcome": "answered",
        "latency_ms": 100,
        "time": at,
    }
    values.update(fields)
    return AuditRecord(**values)  # type: ignore[arg-type]


def test_charts_count_each_record_in_its_bucket() -> None:
    period = PERIODS["1h"]  # the current 5 minutes and the 12 before
    now = 1_790_000_000.0 - 1_790_000_000.0 % 300 + 150  # inside a bucket
    assert window_seconds(now, period) == 3600 + 150
    records = [
        record(now - 10),  # the last bucket
        record(now - 20, "closed"),
        record(now - 310),  # the one before
        record(now - 3600 - 100),  # the hour's first, partial bucket: drawn
        record(now - 3600 - 600),  # before the window: not drawn
        record(now - 5, outcome="refused", latency_ms=300),
        record(now - 5, kind="feedback", vote="good", outcome="feedback"),
    ]
    charts = {c["id"]: c for c in build_charts(records, now, period)}
    by_route = {d["label"]: d["data"] for d in charts["requests-by-route"]["datasets"]}
    assert len(charts["requests-by-route"]["labels"]) == 13
    assert by_route["on-prem"][-1] == 2
    assert by_route["on-prem"][-2] == 1
    assert by_route["on-prem"][0] == 1
    assert sum(by_route["on-prem"]) == 4
    assert by_route["closed API"][-1] == 1
    assert sum(by_route["closed API"]) == 1
    share = charts["onprem-share"]["datasets"][0]["data"]
    assert share[-1] == pytest.approx(66.7)
    assert share[-2] == 100.0
    assert share[0] == 100.0
    assert share[1] is None
    reasons = {d["label"]: d["data"] for d in charts["reasons"]["datasets"]}
    assert set(reasons) == {"private channel", describe_reason("default")}
    assert sum(reasons["private channel"]) == 4
    assert reasons["private channel"][-1] == 2
    assert sum(reasons[describe_reason("default")]) == 1
    refused = {d["label"]: d["data"] for d in charts["refusals"]["datasets"]}
    assert refused == {"refused": [0] * 12 + [1]}
    assert charts["feedback"]["labels"] == ["on-prem · llama"]
    assert charts["feedback"]["datasets"][0]["data"] == [1]
    assert charts["latency"]["labels"] == ["gpt", "llama"]
    for chart in charts.values():
        assert chart["title"]
        assert chart["x"]
        assert chart["y"]
    # The figures above the charts count the same window's requests (not feedback).
    window = [r for r in records if r.time >= now - window_seconds(now, period)]
    figures = totals(window)
    assert figures["requests"] == 5
    assert figures["onprem_percent"] == 80.0
    assert figures["not_answered"] == 1
    drawn = sum(sum(d["data"]) for d in charts["requests-by-route"]["datasets"])
    assert drawn == figures["requests"]


def test_empty_periods_say_so() -> None:
    charts = build_charts([], time.time(), PERIODS["7d"])
    assert all(c["empty"] for c in charts)
    assert len(charts[0]["labels"]) == 29


def test_filters_and_table_rows() -> None:
    records = [record(NOW - i, route=r) for i, r in enumerate(["local", "closed", "local"])]
    assert [r for r in records if Filters(route="closed").matches(r)] == [records[1]]
    assert len([r for r in records if Filters(reason="private_channel").matches(r)]) == 2
    assert [r for r in records if Filters(channel="C2").matches(r)] == []
    rows = table_rows(records, limit=2)
    assert [row["route"] for row in rows] == ["local", "closed"]  # newest first
    assert set(rows[0]) >= {"time", "channel", "user", "reasons", "model", "outcome"}
    assert "text" not in rows[0]


def test_the_playground_lists_the_policys_confidential_channel() -> None:
    plain = playground_channels(Policy())
    kinds = {c.facts.kind for c in plain}
    assert kinds == {ChannelKind.PUBLIC, ChannelKind.PRIVATE, ChannelKind.IM}
    assert any(c.facts.ext_shared for c in plain)
    assert not any(is_listed(Policy(), c) for c in plain)
    policy = Policy(confidential_channels=("C999", "#legal-*", "#Finance"))
    channels = playground_channels(policy)
    listed = [c for c in channels if is_listed(policy, c)]
    assert [c.label for c in listed] == ["#finance"]
    assert listed[0].facts.kind is ChannelKind.PUBLIC
    # Only globs or IDs: no listed channel can be shown.
    assert len(playground_channels(Policy(confidential_channels=("#legal-*",)))) == len(plain)


@given(
    st.builds(
        AuditRecord,
        team=st.text(max_size=12),
        channel=st.text(max_size=12),
        thread=st.text(max_size=12),
        user=st.text(max_size=12),
        route=st.sampled_from(["local", "closed"]),
        reasons=st.lists(st.text(max_size=20), max_size=4).map(tuple),
        model=st.text(max_size=20),
        answered_by=st.none() | st.text(max_size=20),
        outcome=st.text(max_size=12),
        latency_ms=st.integers(0, 10**9),
        input_tokens=st.none() | st.integers(0, 10**9),
        output_tokens=st.none() | st.integers(0, 10**9),
        time=st.floats(0, 2e9),
        kind=st.sampled_from(["request", "feedback"]),
        vote=st.none() | st.sampled_from(["good", "bad"]),
        channel_kind=st.none() | st.text(max_size=8),
    )
)
def test_audit_records_read_back_as_written(record: AuditRecord) -> None:
    """The stream's fields, as Redis returns them (bytes), parse back to the same record."""
    fields = {k.encode(): str(v).encode() for k, v in record.to_fields().items()}
    assert AuditRecord.from_fields(fields) == record


SIGN_IN = SlackSignIn(
    client_id="111.222",
    client_secret="secret",
    team_id="T0TEAM0001",
    console_url="https://console.example.com",
    allowed_users=frozenset({"U0ADMIN001"}),
    authorize_url="https://slack.com/openid/connect/authorize",
    api_url="https://slack.com/api/",
)
GOOD_CLAIMS = {
    "iss": "https://slack.com",
    "aud": "111.222",
    "exp": NOW + 600,
    "nonce": "n0nce",
    "https://slack.com/team_id": "T0TEAM0001",
    "https://slack.com/user_id": "U0ADMIN001",
}


def test_an_id_token_for_this_app_workspace_and_person_signs_in() -> None:
    assert signed_in_user(dict(GOOD_CLAIMS), SIGN_IN, nonce="n0nce", now=NOW) == "U0ADMIN001"
    listed = {**GOOD_CLAIMS, "aud": ["other", "111.222"]}
    assert signed_in_user(listed, SIGN_IN, nonce="n0nce", now=NOW) == "U0ADMIN001"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"iss": "https://evil.example"}, "not issued by Slack"),
        ({"aud": "999.999"}, "not issued by Slack"),
        ({"aud": None}, "not issued by Slack"),
        ({"exp": NOW - 1}, "expired"),
        ({"exp": "never"}, "expired"),
        ({"exp": float("nan")}, "expired"),
        ({"exp": float("inf")}, "expired"),
        ({"exp": True}, "expired"),
        ({"nonce": "other"}, "not for this sign-in"),
        ({"nonce": "nönce"}, "not for this sign-in"),
        ({"nonce": None}, "not for this sign-in"),
        ({"https://slack.com/team_id": "T0OTHER001"}, "only members of this workspace"),
        ({"https://slack.com/user_id": None}, "names no Slack user"),
        ({"https://slack.com/user_id": "u0admin001"}, "names no Slack user"),
        ({"https://slack.com/user_id": "U0ADMIN001.1"}, "names no Slack user"),
        ({"https://slack.com/user_id": "U0ADMIN001\n"}, "names no Slack user"),
        ({"https://slack.com/user_id": "U0SOMEONE1"}, "may not use the console"),
    ],
)
def test_an_id_token_that_does_not_fit_is_refused(change: dict[str, object], why: str) -> None:
    claims = {**GOOD_CLAIMS, **change}
    with pytest.raises(SignInRefused, match=why):
        signed_in_user(claims, SIGN_IN, nonce="n0nce", now=NOW)


@given(st.text(max_size=80))
def test_no_id_token_text_crashes_the_reader(token: str) -> None:
    try:
        claims = id_token_claims(token)
    except SignInRefused:
        return
    assert isinstance(claims, dict)
