"""The console over real HTTP, on the real app (real Redis, real LangChain clients talking to
the fake model servers): access rules, CSRF, the streamed answers and what they route."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from bot.audit import READ_PAGE, AuditLog, AuditRecord
from bot.console.access import SESSION_COOKIE
from bot.settings import Settings, describe_validation_error
from bot.slack.delivery import RESTARTED_TEXT
from tests.conftest import TEST_REDIS_URL, AppFactory, RunningApp
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.serve_process import clean_env, console_process
from tests.fakes.slack_api import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, TEAM_ID, FakeSlack

TOKEN = "operator-token-0123456789abcdef"
CARD = "4111 1111 1111 1111"


def browser_session() -> aiohttp.ClientSession:
    """A client that keeps cookies as a browser does (also for 127.0.0.1)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def page_csrf(
    session: aiohttp.ClientSession, url: str, path: str = "/console/playground"
) -> tuple[str, str]:
    """Load a console page as a browser would; its CSRF token and thread."""
    async with session.get(f"{url}{path}") as resp:
        assert resp.status == 200, await resp.text()
        html = await resp.text()
    token = re.search(r'data-csrf="([0-9a-f]+)"', html) or re.search(
        r'name="csrf" value="([0-9a-f]+)"', html
    )
    thread = re.search(r'data-thread="([0-9a-f]+)"', html)
    assert token is not None
    return token.group(1), thread.group(1) if thread else ""


async def ask(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """POST /console/api/ask; the status and the events of the streamed answer."""
    async with session.post(f"{url}/console/api/ask", json=body, headers=headers or {}) as resp:
        text = await resp.text()
        if resp.status != 200 or resp.content_type != "application/x-ndjson":
            return resp.status, [{"body": text}]
        return resp.status, [json.loads(line) for line in text.splitlines() if line]


@pytest.fixture
async def console(make_app: AppFactory) -> RunningApp:
    """The app on loopback, no console token (as `hearthbot console` runs it)."""
    return await make_app(host="127.0.0.1")


async def test_a_browser_gets_a_session_cookie_scripts_cannot_read(console: RunningApp) -> None:
    url = f"{console.url}/console/playground"
    async with browser_session() as browser, browser.get(url) as resp:
        assert resp.status == 200
        cookie = SimpleCookie(resp.headers["Set-Cookie"])[SESSION_COOKIE]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/console"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


async def test_answers_stream_and_route_as_in_slack(
    console: RunningApp, closed_server: FakeModelServer, local_server: FakeModelServer
) -> None:
    async with browser_session() as browser:
        csrf, thread = await page_csrf(browser, console.url)
        headers = {"X-CSRF-Token": csrf}
        status, events = await ask(
            browser,
            console.url,
            {"channel": "general", "thread": thread, "text": "When is the office party?"},
            headers,
        )
        assert status == 200, events
        kinds = [e["type"] for e in events]
        # Pieces of text as the model writes them, then the answer with its decision.
        assert kinds[-1] == "answer"
        assert kinds.count("text") >= 2
        answer = events[-1]
        assert answer["route"] == "closed"
        assert answer["text"].startswith("answer from closed")
        assert "".join(e["text"] for e in events if e["type"] == "text") == answer["text"]
        assert answer["context"].startswith("☁️")
        assert closed_server.saw("When is the office party?")

        # A card number in a public channel: on-prem, and the panel marks where it is.
        status, events = await ask(
            browser,
            console.url,
            {"channel": "general", "thread": thread, "text": f"Refund card {CARD} please"},
            headers,
        )
        answer = events[-1]
        assert answer["route"] == "local", answer
        assert ["sensitive:credit_card", "card number in message"] in answer["reasons"]
        assert answer["context"].startswith("🔒 on-prem · local-llama")
        question = answer["scanned"][0]
        assert question["label"] == "question"
        marked = [s for s in question["segments"] if s["category"]]
        assert [(s["text"], s["category"]) for s in marked] == [(CARD, "credit_card")]
        # The thread's memory is scanned too, and shown.
        labels = [t["label"] for t in answer["scanned"]]
        assert labels[1:] == ["memory, message 1", "memory, message 2"]
        assert not closed_server.saw(CARD)
        assert local_server.saw(CARD)

        # Private, DM and shared channels and `/ask --local`, as in Slack (new threads).
        for i, (channel, text, reason) in enumerate(
            (
                ("leadership", "What is on the agenda?", "private_channel"),
                ("dm", "What is on my plate?", "direct_message"),
                ("partners", "Any news from Acme?", "shared_channel"),
                ("general", "--local What is our runway?", "user_forced_local"),
                # Typed as in Slack, with the command, or a new line after the flag.
                ("general", "/ask --local our runway, again", "user_forced_local"),
                ("general", "/ASK -l\nour runway, again", "user_forced_local"),
                ("general", "--local\tour runway, again", "user_forced_local"),
            )
        ):
            body = {"channel": channel, "thread": f"fresh{i}thread", "text": text}
            status, events = await ask(browser, console.url, body, headers)
            answer = events[-1]
            assert answer["route"] == "local", answer
            assert [code for code, _ in answer["reasons"]] == [reason], answer
        # The page's on-prem box, as /ask --local.
        body = {"channel": "general", "thread": "boxticked1", "text": "runway?", "local": True}
        _, events = await ask(browser, console.url, body, headers)
        assert [code for code, _ in events[-1]["reasons"]] == ["user_forced_local"]
        assert not closed_server.saw("agenda")
        assert not closed_server.saw("runway")

        # The thread (now confidential: a card number was in it) stays on-prem.
        status, events = await ask(
            browser,
            console.url,
            {"channel": "general", "thread": thread, "text": "And the weather?"},
            headers,
        )
        assert events[-1]["route"] == "local"
        assert "sticky" in " ".join(r[0] for r in events[-1]["reasons"])

        # A reload shows the thread from memory.
        async with browser.get(
            f"{console.url}/console/playground?channel=general&thread={thread}"
        ) as resp:
            html = await resp.text()
        assert "When is the office party?" in html
        assert f"thread {thread}" in html
        # The sidebar lists the channel's threads (the console's own list, not a SCAN).
        assert f'href="/console/playground?channel=general&amp;thread={thread}"' in html
        assert "fresh3thread" in html  # also asked in #general
        assert "fresh0thread" not in html  # asked in leadership


async def test_a_pasted_customer_email_is_summarised(
    console: RunningApp, local_server: FakeModelServer
) -> None:
    email = (
        "From: Jane Roe <jane.roe@example.com>\n"
        "Subject: Invoice 4471 charged twice\n\n"
        "Hello, my invoice 4471 was charged twice on my card. Please refund one payment.\n"
        "Jane"
    )
    async with browser_session() as browser:
        csrf, thread = await page_csrf(browser, console.url)
        status, events = await ask(
            browser,
            console.url,
            {"channel": "support", "thread": thread, "text": email},
            {"X-CSRF-Token": csrf},
        )
    answer = events[-1]
    assert status == 200
    assert answer["type"] == "answer", events
    assert answer["route"] == "local"
    assert "Suggested reply" in answer["text"]
    assert "from local" in answer["text"]
    assert local_server.saw("Invoice 4471 charged twice")


async def test_forged_requests_are_refused_and_reach_no_model(
    console: RunningApp, closed_server: FakeModelServer, local_server: FakeModelServer
) -> None:
    async with browser_session() as browser:
        csrf, thread = await page_csrf(browser, console.url)
        body = {"channel": "general", "thread": thread, "text": "forged question"}
        # No token, a wrong one, another session's, and a cross-site request with the token.
        async with browser_session() as other:
            other_csrf, _ = await page_csrf(other, console.url)
        for headers in (
            {},
            {"X-CSRF-Token": "0" * 64},
            {"X-CSRF-Token": other_csrf},
            {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"},
        ):
            status, events = await ask(browser, console.url, body, headers)
            assert status == 403, (headers, events)
        # A multipart form whose text is not UTF-8: a 400 (not a 500), token or not.
        for fields in ({}, {"csrf": csrf}):
            parts = [b'Content-Disposition: form-data; name="text"\r\n\r\n\xed\xa0\x80 card']
            parts += [
                f'Content-Disposition: form-data; name="{k}"\r\n\r\n{v}'.encode()
                for k, v in fields.items()
            ]
            body = b"".join(b"--b0undary\r\n" + p + b"\r\n" for p in parts) + b"--b0undary--\r\n"
            async with browser.post(
                f"{console.url}/console/policy",
                data=body,
                headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
            ) as resp:
                assert resp.status == 400, await resp.text()
        # A form posted to the policy tester without the token.
        async with browser.post(
            f"{console.url}/console/policy", data={"text": "forged", "channel": "general"}
        ) as resp:
            assert resp.status == 403
        async with browser.post(
            f"{console.url}/console/policy",
            data={"text": f"card {CARD}", "channel": "general", "csrf": csrf},
        ) as resp:
            assert resp.status == 200
            assert 'data-category="credit_card"' in await resp.text()
    assert not closed_server.saw("forged")
    assert not local_server.saw("forged")
    records = await console.services.audit.tail(10)
    assert records == []


async def test_bad_input_gets_a_clear_answer(
    console: RunningApp, closed_server: FakeModelServer
) -> None:
    async with browser_session() as browser:
        csrf, thread = await page_csrf(browser, console.url)
        headers = {"X-CSRF-Token": csrf}
        cases: list[tuple[Any, int]] = [
            ({"channel": "nowhere", "thread": thread, "text": "hi"}, 400),
            ({"channel": "general", "thread": "../../*", "text": "hi"}, 400),
            ({"channel": "general", "thread": thread}, 400),
            (["not", "an", "object"], 400),
            ({"channel": "general", "thread": thread, "text": "x" * 40_001}, 413),
        ]
        for body, expected in cases:
            async with browser.post(
                f"{console.url}/console/api/ask", json=body, headers=headers
            ) as resp:
                assert resp.status == expected, body
        async with browser.post(
            f"{console.url}/console/api/ask",
            data=b"\xff\xfe not json",
            headers={**headers, "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400
        async with browser.post(
            f"{console.url}/console/api/ask",
            data=b"[" * 100_000 + b"]" * 100_000,
            headers={**headers, "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400
        # A lone surrogate (JSON's \ud800): answered, the model given U+FFFD in its place.
        _status, events = await ask(
            browser,
            console.url,
            {"channel": "general", "thread": thread, "text": "hi \ud800 there"},
            headers,
        )
        assert events[-1]["type"] == "answer", events
        assert closed_server.saw("hi \ufffd there")
        _status, events = await ask(
            browser, console.url, {"channel": "general", "thread": thread, "text": "help"}, headers
        )
        assert events[-1]["type"] == "help"
        assert "/ask" in events[-1]["text"]


async def test_rebinding_and_proxies_are_refused_on_loopback(console: RunningApp) -> None:
    """Without a token the console serves this machine only: a page reached under another
    host name (DNS rebinding) gets nothing."""
    async with browser_session() as browser:
        for host in ("attacker.example", "attacker.example:80", "10.0.0.5"):
            async with browser.get(
                f"{console.url}/console/playground", headers={"Host": host}
            ) as resp:
                assert resp.status == 403, host
        # A proxy on this machine that says it forwarded the request.
        for header, value in (
            ("X-Forwarded-For", "203.0.113.9"),
            ("Forwarded", "for=203.0.113.9"),
            ("X-Real-IP", "203.0.113.9"),
            ("Via", "1.1 nginx"),
            ("X-Forwarded-Host", "console.example.com"),
        ):
            async with browser.get(
                f"{console.url}/console/playground", headers={header: value}
            ) as resp:
                assert resp.status == 403, header
        for host in ("localhost", "127.0.0.1:8000", "[::1]:3000"):
            async with browser.get(
                f"{console.url}/console/playground", headers={"Host": host}
            ) as resp:
                assert resp.status == 200, host


async def test_beyond_loopback_without_a_token_the_console_is_off(make_app: AppFactory) -> None:
    app = await make_app(host="0.0.0.0")  # noqa: S104
    for path in ("/console", "/console/playground", "/console/static/console.css"):
        async with app.session.get(f"{app.url}{path}", allow_redirects=False) as resp:
            assert resp.status == 403, path
            assert "CONSOLE_TOKEN" in await resp.text()
    async with app.session.post(f"{app.url}/console/api/ask", json={}) as resp:
        assert resp.status == 403


async def test_beyond_loopback_the_token_is_required(
    make_app: AppFactory, closed_server: FakeModelServer
) -> None:
    app = await make_app(host="0.0.0.0", console_token=TOKEN)  # noqa: S104
    url = app.url
    async with browser_session() as browser:
        async with browser.get(f"{url}/console/audit", allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/console/login?next=/console/audit"
        for path in ("/console/playground", "/console/policy", "/console/audit"):
            async with browser.get(f"{url}{path}") as resp:
                assert resp.url.path == "/console/login", path
        async with browser.post(f"{url}/console/api/ask", json={}) as resp:
            assert resp.status == 401
        csrf, _ = await page_csrf(browser, url, "/console/login")
        async with browser.post(
            f"{url}/console/login", data={"token": "wrong-token-0123456789", "csrf": csrf}
        ) as resp:
            assert resp.status == 401
            assert "Wrong token" in await resp.text()
        # The sign-in form is CSRF-protected too.
        async with browser.post(f"{url}/console/login", data={"token": TOKEN}) as resp:
            assert resp.status == 403
        async with browser.post(
            f"{url}/console/login",
            data={"token": TOKEN, "csrf": csrf, "next": "https://evil.example/"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/console/playground"  # never another site
            assert SimpleCookie(resp.headers["Set-Cookie"])[SESSION_COOKIE]["secure"] == ""
        # TLS that ends at a proxy in front: the cookie is only ever sent over HTTPS.
        async with browser_session() as behind_tls:
            tls_csrf, _ = await page_csrf(behind_tls, url, "/console/login")
            async with behind_tls.post(
                f"{url}/console/login",
                data={"token": TOKEN, "csrf": tls_csrf},
                headers={"X-Forwarded-Proto": "https"},
                allow_redirects=False,
            ) as resp:
                assert resp.status == 303
                assert SimpleCookie(resp.headers["Set-Cookie"])[SESSION_COOKIE]["secure"] is True
        async with browser.get(f"{url}/console/audit") as resp:
            assert resp.status == 200
            assert resp.url.path == "/console/audit"
        # Signing out ends the session, also for a copy of its cookie kept elsewhere.
        kept = {c.key: c.value for c in browser.cookie_jar}[SESSION_COOKIE]
        csrf, _ = await page_csrf(browser, url, "/console/policy")
        async with browser.post(f"{url}/console/logout", data={"csrf": csrf}) as resp:
            assert resp.url.path == "/console/login"
        async with browser.get(f"{url}/console/audit", allow_redirects=False) as resp:
            assert resp.status == 303
        async with (
            browser_session() as thief,
            thief.get(
                f"{url}/console/audit",
                cookies={SESSION_COOKIE: kept},
                allow_redirects=False,
            ) as resp,
        ):
            assert resp.status == 303
    # A script may send the token as a bearer token (no cookie, so no CSRF to forge).
    async with browser_session() as script:
        status, events = await ask(
            script,
            url,
            {"channel": "general", "thread": "abcdef123456", "text": "bearer question"},
            {"Authorization": f"Bearer {TOKEN}"},
        )
        assert status == 200
        assert events[-1]["route"] == "closed"
        status, _ = await ask(
            script,
            url,
            {"channel": "general", "thread": "abcdef123456", "text": "bearer question"},
            {"Authorization": "Bearer wrong-token-0123456789"},
        )
        assert status == 401
    assert closed_server.saw("bearer question")


async def test_the_audit_page_shows_decisions_but_never_text(console: RunningApp) -> None:
    async with browser_session() as browser:
        csrf, thread = await page_csrf(browser, console.url)
        secret_words = "quarterly numbers are terrible"
        for channel in ("general", "leadership"):
            await ask(
                browser,
                console.url,
                {"channel": channel, "thread": thread, "text": secret_words},
                {"X-CSRF-Token": csrf},
            )
        async with browser.get(f"{console.url}/console/audit?period=1h") as resp:
            html = await resp.text()
        assert secret_words not in html
        data = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html)
        assert data is not None
        charts = {c["id"]: c for c in json.loads(data.group(1))}
        by_route = {d["label"]: sum(d["data"]) for d in charts["requests-by-route"]["datasets"]}
        assert by_route == {"on-prem": 1, "closed API": 1}
        assert "G0CONSOLELEADERS" in html
        assert "C0CONSOLEGENERAL" in html
        # Filtering by route leaves one decision in the table.
        async with browser.get(f"{console.url}/console/audit?period=1h&route=local") as resp:
            html = await resp.text()
        table = html[html.index('<table id="decisions">') :]
        rows = re.findall(r'<tr class="request">', table)
        assert len(rows) == 1
        assert "G0CONSOLELEADERS" in table
        assert "C0CONSOLEGENERAL" not in table


async def test_redis_down_the_pages_say_so(
    console: RunningApp, redis_client: aioredis.Redis
) -> None:
    """Fault injection: the console's Redis connection pool pointed at a closed port."""
    pool = console.services.redis.connection_pool
    pool.connection_kwargs["port"] = 1
    await pool.disconnect()
    async with browser_session() as browser:
        async with browser.get(f"{console.url}/console/playground") as resp:
            assert resp.status == 200
            assert "did not answer" in await resp.text()
        async with browser.get(f"{console.url}/console/audit") as resp:
            assert resp.status == 503
            assert "did not answer" in await resp.text()
        csrf, thread = await page_csrf(browser, console.url)
        status, events = await ask(
            browser,
            console.url,
            {"channel": "general", "thread": thread, "text": "anyone there?"},
            {"X-CSRF-Token": csrf},
        )
        assert status == 200
        assert events[-1]["type"] == "error", events


async def test_the_console_counts_against_the_same_rate_limits(
    make_app: AppFactory, closed_server: FakeModelServer
) -> None:
    app = await make_app(host="127.0.0.1", rate_limit_per_user="2/minute")
    async with browser_session() as browser:
        csrf, thread = await page_csrf(browser, app.url)
        texts = ["first question", "second question", "third question"]
        results = [
            await ask(
                browser,
                app.url,
                {"channel": "general", "thread": thread, "text": text},
                {"X-CSRF-Token": csrf},
            )
            for text in texts
        ]
    assert [events[-1]["type"] for _, events in results] == ["answer", "answer", "error"]
    assert "faster than hearthbot allows" in results[2][1][-1]["text"]
    assert not closed_server.saw("third question")
    outcomes = [r.outcome for r in await app.services.audit.tail(10)]
    assert outcomes == ["answered", "answered", "rate_limited"]


async def test_the_audit_stream_is_read_whole_a_page_at_a_time(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    """More records than one page, many in the same millisecond (IDs `ms-0`, `ms-1`, …),
    and some before the period: every record of the period once, in order."""
    log = AuditLog(redis_client, prefix=redis_prefix, max_entries=100_000)
    now_ms = int(time.time() * 1000)
    old_ms = now_ms - 2 * 3600 * 1000
    pipe = redis_client.pipeline(transaction=False)
    for i in range(5):
        pipe.xadd(log.key, _record(i).to_fields(), id=f"{old_ms}-{i}")
    count = READ_PAGE * 2 - 1  # the largest-sequence entry below ends the second page
    for i in range(count):
        # Three pages' worth over 40 milliseconds: a page boundary falls inside one.
        pipe.xadd(log.key, _record(i).to_fields(), id=f"{now_ms - 40 + i * 40 // count}-{i}")
    await pipe.execute()
    # A page that ends on the largest sequence number a millisecond can have.
    pipe.xadd(log.key, _record(count).to_fields(), id=f"{now_ms}-18446744073709551615")
    pipe.xadd(log.key, _record(count + 1).to_fields(), id=f"{now_ms + 1}-0")
    await pipe.execute()
    records = await log.since(3600)
    assert [r.latency_ms for r in records] == list(range(count + 2))


def _record(i: int) -> AuditRecord:
    return AuditRecord(
        team="T1", channel="C1", thread="1.0", user="U1", route="local",
        reasons=("private_channel",), model="m", answered_by="m", outcome="answered",
        latency_ms=i,
    )  # fmt: skip


async def test_a_closed_page_gives_its_place_in_line_back(
    make_app: AppFactory, local_server: FakeModelServer
) -> None:
    """One on-prem slot, busy; two more questions wait in line and their pages are closed:
    neither reaches the model, and the audit trail says why."""
    app = await make_app(host="127.0.0.1", max_in_flight_local=1)
    local_server.delay_s = 1.5
    async with browser_session() as browser:
        csrf, thread = await page_csrf(browser, app.url)
        headers = {"X-CSRF-Token": csrf}

        def question(text: str) -> dict[str, Any]:
            return {"channel": "leadership", "thread": thread, "text": text}

        first = asyncio.create_task(ask(browser, app.url, question("first in line"), headers))
        await asyncio.sleep(0.3)
        waiting = [
            asyncio.create_task(ask(browser, app.url, question(f"left at {i}"), headers))
            for i in range(2)
        ]
        await asyncio.sleep(0.5)
        for task in waiting:
            task.cancel()  # the browser closes the connection
        _, events = await first
        assert events[-1]["type"] == "answer"
        await asyncio.sleep(2.0)  # long enough for a queued question to have been answered
    assert [r["messages"][-1]["content"] for r in local_server.requests] == ["first in line"]
    records = await app.services.audit.tail(10)
    # One record each, with the route it was decided (no model answered the two).
    assert sorted((r.outcome, r.route, r.reasons, r.answered_by) for r in records) == [
        ("answered", "local", ("private_channel",), "local-llama"),
        ("stopped", "local", ("private_channel",), None),
        ("stopped", "local", ("private_channel",), None),
    ]


async def test_a_page_closed_mid_answer_stops_the_model_and_is_recorded_once(
    make_app: AppFactory, closed_server: FakeModelServer
) -> None:
    """The cloud model is writing when the page is closed: its call is cancelled, and the
    one audit record says where the question went (the closed API) and that it stopped."""
    app = await make_app(host="127.0.0.1")
    closed_server.word_delay_s = 0.3
    closed_server.extra_words = 40
    async with browser_session() as browser:
        csrf, thread = await page_csrf(browser, app.url)
        body = {"channel": "general", "thread": thread, "text": "a long public answer"}
        asking = asyncio.create_task(ask(browser, app.url, body, {"X-CSRF-Token": csrf}))
        await asyncio.sleep(1.5)
        asking.cancel()  # the page is closed
        words = closed_server.words_sent
        await asyncio.sleep(1.5)
    assert words > 0
    assert closed_server.words_sent <= words + 2  # the model call was cancelled
    (record,) = await app.services.audit.tail(10)
    assert (record.route, record.answered_by, record.outcome) == ("closed", "closed-gpt", "stopped")


async def test_a_page_closed_after_its_answer_is_recorded_once(
    console: RunningApp,
) -> None:
    async with browser_session() as browser:
        csrf, thread = await page_csrf(browser, console.url)
        for i in range(5):
            body = {"channel": "general", "thread": thread, "text": f"question {i}"}
            _, events = await ask(browser, console.url, body, {"X-CSRF-Token": csrf})
            assert events[-1]["type"] == "answer"
    await asyncio.sleep(0.6)  # longer than the watcher's poll
    records = await console.services.audit.tail(20)
    assert [r.outcome for r in records] == ["answered"] * 5


@pytest.mark.parametrize(("grace_s", "finished"), [("10", True), ("0.5", False)])
async def test_sigterm_lets_answers_finish_or_tells_the_page(
    local_server: FakeModelServer, redis_prefix: str, grace_s: str, finished: bool
) -> None:
    """`hearthbot console` stops as `serve` does: questions in progress get
    SHUTDOWN_GRACE_S; one cut off at the deadline is told so, and recorded."""
    local_server.word_delay_s = 0.15
    local_server.extra_words = 20  # about 4 s for the whole answer
    env = clean_env(
        TEST_REDIS_URL,
        REDIS_PREFIX=redis_prefix,
        LOCAL_MODEL="openai:local-llama",
        LOCAL_BASE_URL=local_server.base_url,
        CLOSED_MODEL="none",
        SHUTDOWN_GRACE_S=grace_s,
    )
    command = (sys.executable, "-m", "bot", "console", "--port", "0")
    async with console_process(env, *command) as console, browser_session() as browser:
        base = console.url.removesuffix("/console")
        csrf, thread = await page_csrf(browser, base)
        body = {"channel": "leadership", "thread": thread, "text": "finish this please"}
        asking = asyncio.create_task(ask(browser, base, body, {"X-CSRF-Token": csrf}))
        await asyncio.sleep(0.8)
        console.process.send_signal(signal.SIGTERM)
        _, events = await asyncio.wait_for(asking, 30)
        assert await asyncio.wait_for(console.process.wait(), 30) == 0
    if finished:
        assert events[-1]["type"] == "answer"
    else:
        assert events[-1] == {"type": "error", "text": RESTARTED_TEXT}
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    try:
        (record,) = await AuditLog(client, prefix=redis_prefix, max_entries=100).tail(10)
    finally:
        await client.aclose()
    assert record.outcome == ("answered" if finished else "error")
    if not finished:
        assert record.reasons == ("shutdown",)


# ---- Sign in with Slack --------------------------------------------------------------------


async def sign_in_with_slack(browser: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    """Follow the round trip as a browser does: the console sends it to Slack's authorize
    page, Slack sends it back with a code (to CONSOLE_URL, here replaced by the app's URL)."""
    async with browser.get(f"{url}/console/login/slack", allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        authorize = resp.headers["Location"]
    async with browser.get(authorize, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        back = urlsplit(resp.headers["Location"])
    assert back.path == "/console/login/slack/callback"
    async with browser.get(f"{url}{back.path}?{back.query}", allow_redirects=False) as resp:
        await resp.read()
        return resp


@pytest.fixture
async def slack_console(make_app: AppFactory, slack: FakeSlack) -> RunningApp:
    """Beyond loopback, with Sign in with Slack and no token."""
    return await make_app(
        host="0.0.0.0",  # noqa: S104
        slack_client_id=OIDC_CLIENT_ID,
        slack_client_secret=OIDC_CLIENT_SECRET,
        slack_team_id=TEAM_ID,
        console_url="https://console.example.com",
        slack_openid_url=slack.openid_url,
        console_slack_users=["U0ADMIN001", "U0ANALYST1"],
    )


async def test_sign_in_with_slack_asks_as_that_person(
    slack_console: RunningApp, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    url = slack_console.url
    async with browser_session() as browser:
        async with browser.get(f"{url}/console/playground") as resp:
            assert resp.url.path == "/console/login"
            page = await resp.text()
        assert 'id="slack-sign-in"' in page
        assert 'name="token"' not in page  # no token configured: no token form
        resp = await sign_in_with_slack(browser, url)
        assert resp.status == 200
        assert 'url=/console/playground"' in await resp.text()
        # The authorize request named the app, the workspace and a nonce; the token
        # request sent the same redirect URI.
        (token_call,) = slack.calls_to("openid.connect.token")
        assert token_call.params["redirect_uri"] == (
            "https://console.example.com/console/login/slack/callback"
        )
        csrf, thread = await page_csrf(browser, url)
        async with browser.get(f"{url}/console/playground") as resp:
            assert "Slack user U0ADMIN001" in await resp.text()
        body = {"channel": "general", "thread": thread, "text": "who am I?"}
        _, events = await ask(browser, url, body, {"X-CSRF-Token": csrf})
        assert events[-1]["type"] == "answer"
    (record,) = await slack_console.services.audit.tail(10)
    assert record.user == "U0ADMIN001"  # the person, not the console's own user


async def test_sign_in_with_slack_refuses_what_it_should(
    slack_console: RunningApp, slack: FakeSlack
) -> None:
    url = slack_console.url
    # Another workspace, and a member not on CONSOLE_SLACK_USERS.
    for user, why in (
        (("U0ADMIN001", "T0OTHERORG", "Eve"), "only members of this workspace"),
        (("U0SOMEONE1", TEAM_ID, "Sam"), "may not use the console"),
    ):
        slack.oidc_user = user
        async with browser_session() as browser:
            resp = await sign_in_with_slack(browser, url)
            assert resp.status == 403
            async with browser.get(f"{url}/console/audit", allow_redirects=False) as page:
                assert page.status == 303, why
    slack.oidc_user = ("U0ADMIN001", TEAM_ID, "Ada")
    # Cancelled at Slack.
    slack.oidc_cancels = True
    async with browser_session() as browser:
        assert (await sign_in_with_slack(browser, url)).status == 401
    slack.oidc_cancels = False
    # Login CSRF: a code and state obtained by one browser, completed by another.
    async with browser_session() as attacker, browser_session() as victim:
        async with attacker.get(f"{url}/console/login/slack", allow_redirects=False) as resp:
            authorize = resp.headers["Location"]
        async with attacker.get(authorize, allow_redirects=False) as resp:
            back = urlsplit(resp.headers["Location"])
        async with victim.get(f"{url}{back.path}?{back.query}") as resp:
            assert resp.status == 403
        async with victim.get(f"{url}/console/audit", allow_redirects=False) as resp:
            assert resp.status == 303
        # The browser that started it can finish it, once: the round trip's cookie is then
        # gone, and Slack would refuse the used code anyway.
        async with attacker.get(f"{url}{back.path}?{back.query}") as resp:
            assert resp.status == 200
        async with attacker.get(f"{url}{back.path}?{back.query}") as resp:
            assert resp.status == 403
    # Slack down.
    await slack.stop()
    async with browser_session() as browser:
        async with browser.get(f"{url}/console/login/slack", allow_redirects=False) as resp:
            assert resp.status == 302
        state = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]
        callback = f"{url}/console/login/slack/callback?code=x&state={state}"
        async with browser.get(callback) as resp:
            assert resp.status == 502


def test_sign_in_with_slack_needs_its_four_settings() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, slack_client_id=OIDC_CLIENT_ID)  # type: ignore[call-arg]
    message = describe_validation_error(caught.value)
    assert "SLACK_CLIENT_SECRET, SLACK_TEAM_ID, CONSOLE_URL: required" in message
    base = {
        "slack_client_id": OIDC_CLIENT_ID,
        "slack_client_secret": OIDC_CLIENT_SECRET,
        "slack_team_id": TEAM_ID,
    }
    for url in (
        "http://console.example.com",
        "http://localhost.evil.example",
        "http://127.0.0.1.evil.example",
        "http://localhost@evil.example",
        "https://user:pw@console.example.com",
        "ftp://console.example.com",
        "https://",
    ):
        with pytest.raises(ValidationError, match="must be https"):
            Settings(_env_file=None, console_url=url, **base)  # type: ignore[call-arg]
    for url in ("https://console.example.com", "http://127.0.0.1:3000", "http://localhost:8"):
        Settings(_env_file=None, console_url=url, **base)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="too short"):
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            console_url="https://console.example.com",
            **{**base, "slack_client_secret": "   "},
        )


async def test_taking_someone_off_the_list_signs_them_out(
    make_app: AppFactory, slack: FakeSlack
) -> None:
    """Sessions are signed with a key that covers the workspace and the list: a person
    taken off CONSOLE_SLACK_USERS is out at once, on every replica."""
    settings = {
        "host": "0.0.0.0",  # noqa: S104
        "slack_client_id": OIDC_CLIENT_ID,
        "slack_client_secret": OIDC_CLIENT_SECRET,
        "slack_team_id": TEAM_ID,
        "console_url": "https://console.example.com",
        "slack_openid_url": slack.openid_url,
    }
    before = await make_app(**settings, console_slack_users=["U0ADMIN001", "U0ANALYST1"])
    same = await make_app(**settings, console_slack_users=["U0ANALYST1", "U0ADMIN001"])
    after = await make_app(**settings, console_slack_users=["U0ANALYST1"])
    async with browser_session() as browser:
        assert (await sign_in_with_slack(browser, before.url)).status == 200
        cookie = {c.key: c.value for c in browser.cookie_jar}[SESSION_COOKIE]
    for app, status in ((before, 200), (same, 200), (after, 303)):
        async with (
            browser_session() as browser,
            browser.get(
                f"{app.url}/console/audit", cookies={SESSION_COOKIE: cookie}, allow_redirects=False
            ) as resp,
        ):
            assert resp.status == status
