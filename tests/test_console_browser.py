"""The console end to end in a real headless browser (Debian's Chromium, driven by
Playwright's Python client), started the way a newcomer starts it: `./scripts/run.sh` without
Slack credentials, with the embedded model. The closed API is the fake (no internet here).

Screenshots go to the test's temporary folder; with HEARTHBOT_SCREENSHOTS=docs/console they
replace the README's (`HEARTHBOT_SCREENSHOTS=docs/console ./scripts/test.sh -k browser`)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.audit import AuditLog
from tests.conftest import CLOSED_KEY, TEST_REDIS_URL
from tests.fakes.loopback import serve_on_loopback
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.serve_process import ROOT, clean_env, console_process, free_port
from tests.fakes.slack_api import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, TEAM_ID, FakeSlack

CHROMIUM = "/usr/bin/chromium"
# No network chatter from the browser itself (this machine's network is closed).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CARD = "4111 1111 1111 1111"
TOKEN = "browser-test-token-0123456789"
CLOSED_REPLY = (
    "The office is open from 9:00 to 18:00, Monday to Friday. The cafeteria serves lunch "
    "from 11:30."
)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = os.environ.get("HEARTHBOT_SCREENSHOTS")
    path = ROOT / folder if folder else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert os.path.exists(CHROMIUM), "scripts/test.sh installs Debian's chromium"  # noqa: ASYNC240
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


async def new_page(browser: Browser) -> tuple[Page, list[str]]:
    """A page 1400×850, and the errors its scripts and the CSP report."""
    context = await browser.new_context(viewport={"width": 1400, "height": 850})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page, errors


async def ask(page: Page, text: str) -> None:
    """Type and send, then wait until the answer has streamed to its end."""
    before = await page.locator(".message.bot[data-done]").count()
    await page.fill("#question", text)
    await page.press("#question", "Enter")
    await expect(page.locator(".message.bot[data-done]")).to_have_count(before + 1, timeout=120_000)


async def test_run_sh_opens_the_console_and_every_page_works(browser: Browser, shots: Path) -> None:
    closed = await FakeModelServer("closed", "openai", reply=CLOSED_REPLY).start()
    env = clean_env(
        TEST_REDIS_URL,
        REDIS_PREFIX=f"hearthbot-test-{uuid.uuid4().hex[:12]}",
        HEARTHBOT_VENV=sys.prefix,
        CLOSED_MODEL="openai:gpt-5.4-mini",
        OPENAI_API_KEY=CLOSED_KEY,
        OPENAI_BASE_URL=closed.base_url,
        MAX_ANSWER_TOKENS="120",
        CONFIDENTIAL_CHANNELS="#finance",
    )
    try:
        async with console_process(env, "./scripts/run.sh", "--port", "0") as console:
            assert console.url.startswith("http://127.0.0.1:")
            assert console.url.endswith("/console")
            page, errors = await new_page(browser)
            await page.goto(console.url)
            await expect(page).to_have_title("Playground · hearthbot console")

            # A public channel: the closed API answers.
            await ask(page, "When is the office open?")
            last = page.locator(".message.bot").last
            await expect(last.locator(".text")).to_have_text(CLOSED_REPLY)
            await expect(last.locator(".context")).to_have_text("☁️ gpt-5.4-mini")
            assert closed.saw("When is the office open?")

            # A card number in the same public channel: on-prem, the card highlighted.
            await ask(page, f"My card {CARD} was charged twice. What should I do?")
            last = page.locator(".message.bot").last
            await expect(last.locator(".context")).to_have_text(
                "🔒 on-prem · smollm2-135m-instruct · card number in message"
            )
            assert (await last.locator(".text").inner_text()).strip()
            mark = page.locator('#scanned mark[data-category="credit_card"]')
            await expect(mark).to_have_text(CARD)
            await expect(page.locator("#route")).to_have_text("on-prem")
            await page.screenshot(path=shots / "playground.png")

            # A private channel: on-prem, by the channel's kind.
            await page.click('a[data-channel="leadership"]')
            await expect(page.locator(".channel-head p")).to_contain_text("private channel")
            await ask(page, "What is the capital of France?")
            await expect(page.locator(".message.bot .context").last).to_have_text(
                "🔒 on-prem · smollm2-135m-instruct · private channel"
            )
            # Greedy decoding: the embedded model's answer the README shows, every time.
            await expect(page.locator(".message.bot .text").last).to_have_text(
                "The capital of France is Paris."
            )
            # The channel the policy lists as confidential.
            listed = page.locator('a[data-channel="confidential"]')
            await expect(listed).to_contain_text("#finance")
            await expect(listed.locator(".tag")).to_have_text("confidential")
            await listed.click()
            await expect(page.locator(".channel-head h1")).to_contain_text("#finance")
            await ask(page, "How did the quarter go?")
            await expect(page.locator(".message.bot .context").last).to_contain_text(
                "🔒 on-prem · smollm2-135m-instruct · confidential channel"
            )
            await expect(page.locator("#reasons")).to_contain_text("(listed_channel)")
            assert not closed.saw(CARD)
            assert not closed.saw("capital of France")
            assert not closed.saw("quarter")

            # Where the data went: the charts are drawn, with data, titles and axes.
            await page.click("text=Where the data went")
            await expect(page.locator("canvas[data-drawn=true]")).to_have_count(7)
            charts = await page.evaluate(
                """() => [...document.querySelectorAll('canvas')].map((c) => {
                    const chart = Chart.getChart(c);
                    const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let painted = 0;
                    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
                    return {
                        id: c.id,
                        title: chart.options.plugins.title.text,
                        x: chart.options.scales.x.title.text,
                        y: chart.options.scales.y.title.text,
                        total: chart.data.datasets.flatMap((d) => d.data)
                            .reduce((a, b) => a + (b || 0), 0),
                        painted,
                    };
                })"""
            )
            by_id = {c["id"]: c for c in charts}
            assert by_id["chart-requests-by-route"]["total"] == 4
            assert by_id["chart-requests-by-route"]["y"] == "requests"
            assert by_id["chart-requests-by-route"]["x"].startswith("time (UTC)")
            assert by_id["chart-latency"]["y"] == "milliseconds"
            assert by_id["chart-onprem-share"]["y"] == "% of requests"
            for chart in charts:
                assert all((chart["title"], chart["x"], chart["y"])), chart
                assert chart["painted"] > 1000, chart  # axes and bars, not a blank canvas
            rows = page.locator("#decisions tbody tr.request")
            await expect(rows).to_have_count(4)
            table = await page.locator("#decisions").inner_text()
            assert "capital of France" not in table
            assert CARD not in table
            await page.screenshot(path=shots / "audit.png", full_page=True)
            # Filter by route: the three on-prem decisions.
            await page.select_option('select[name="route"]', "local")
            await page.click("#filters button[type=submit]")
            await expect(rows).to_have_count(3)

            # The policy and its tester (no model call).
            await page.click("text=Policy")
            await expect(page.locator("#policy")).to_contain_text("card number")
            await page.fill("#test-text", "Please wire it to DE89 3704 0044 0532 0130 00 today")
            await page.select_option("#test-channel", "general")
            await page.click("#tester button[type=submit]")
            await expect(page.locator("#result .route")).to_have_text("on-prem")
            await expect(page.locator('#result mark[data-category="iban"]')).to_have_text(
                "DE89 3704 0044 0532 0130 00"
            )
            await page.fill("#test-text", "When is the next all-hands?")
            await page.click("#tester button[type=submit]")
            await expect(page.locator("#result .route")).to_have_text("closed API")
            await page.fill("#test-text", "Refund card 4111 1111 1111 1111 to jane@example.com")
            await page.click("#tester button[type=submit]")
            await expect(page.locator("#result mark")).to_have_count(2)
            await page.screenshot(path=shots / "policy.png", full_page=True)
            assert not closed.saw("DE89"), "the tester calls no model"
            assert errors == [], errors
    finally:
        await closed.stop()


async def test_beyond_loopback_the_token_slack_sign_in_and_csrf_hold(
    browser: Browser, local_server: FakeModelServer, slack: FakeSlack, shots: Path
) -> None:
    port = free_port()
    prefix = f"hearthbot-test-{uuid.uuid4().hex[:12]}"
    env = clean_env(
        TEST_REDIS_URL,
        REDIS_PREFIX=prefix,
        CONSOLE_TOKEN=TOKEN,
        LOCAL_MODEL="openai:local-llama",
        LOCAL_BASE_URL=local_server.base_url,
        CLOSED_MODEL="none",
        # Sign in with Slack, against the Slack fake's authorize page and token method.
        SLACK_CLIENT_ID=OIDC_CLIENT_ID,
        SLACK_CLIENT_SECRET=OIDC_CLIENT_SECRET,
        SLACK_TEAM_ID=TEAM_ID,
        CONSOLE_URL=f"http://127.0.0.1:{port}",
        SLACK_API_URL=slack.api_url,
        SLACK_OPENID_URL=slack.openid_url,
    )
    hearthbot = (sys.executable, "-m", "bot", "console", "--host", "0.0.0.0", "--port", str(port))  # noqa: S104
    async with console_process(env, *hearthbot) as console:
        # Sign in with Slack, in a browser context of its own.
        with_slack, slack_errors = await new_page(browser)
        await with_slack.goto(f"{console.url}/audit")
        await with_slack.click("#slack-sign-in")
        await expect(with_slack).to_have_title("Playground · hearthbot console")
        await expect(with_slack.locator("#signed-in-as")).to_have_text("Slack user U0ADMIN001")
        await ask(with_slack, "asked as a Slack user")
        assert slack_errors == []
        client = aioredis.Redis.from_url(TEST_REDIS_URL)
        try:
            (record,) = await AuditLog(client, prefix=prefix, max_entries=100).tail(10)
        finally:
            await client.aclose()
        assert record.user == "U0ADMIN001"
        await with_slack.context.close()

        page, errors = await new_page(browser)
        await page.goto(f"{console.url}/playground")
        await expect(page).to_have_url(f"{console.url}/login?next=/console/playground")
        await page.fill("#token", "not-the-token-0123456789")
        await page.click("button[type=submit]")
        await expect(page.locator(".error")).to_have_text("Wrong token.")
        await page.screenshot(path=shots / "sign-in.png")
        await page.fill("#token", TOKEN)
        await page.click("button[type=submit]")
        await expect(page).to_have_title("Playground · hearthbot console")
        await ask(page, "signed-in question")
        assert local_server.saw("signed-in question")

        # Another site (another origin) the signed-in user visits posts to the console:
        # the browser sends the session cookie along (same site), but not the CSRF token.
        attacker = web.Application()
        target = console.url

        async def evil(_: web.Request) -> web.Response:
            html = f"""<html><body>
<form id="f" method="post" action="{target}/policy">
<input name="text" value="forged form"><input name="channel" value="general"></form>
<script>
fetch("{target}/api/ask", {{method: "POST", credentials: "include",
  headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify({{channel: "general", thread: "abcdef123456", text: "forged fetch"}})}})
  .then((r) => {{ document.title = "fetch " + r.status; }})
  .catch(() => {{ document.title = "fetch blocked"; }})
  .finally(() => document.getElementById("f").submit());
</script></body></html>"""
            return web.Response(text=html, content_type="text/html")

        attacker.router.add_get("/", evil)
        runner, attacker_url = await serve_on_loopback(attacker)
        try:
            forged = await page.context.new_page()
            await forged.goto(attacker_url)
            await expect(forged.locator("body")).to_contain_text("CSRF token missing or wrong")
            await forged.close()
        finally:
            await runner.cleanup()
        assert not local_server.saw("forged fetch")
        assert not local_server.saw("forged form")
        # The one error the page saw: the wrong token's 401.
        assert errors == [
            "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
        ], errors
