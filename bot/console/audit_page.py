"""Where the data went: charts and a table of routing decisions over a chosen period, from the
audit stream (IDs, routes, reasons, models and figures; never message text)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from bot.console.channels import playground_channels
from bot.console.charts import (
    DEFAULT_PERIOD,
    PERIODS,
    Filters,
    build_charts,
    filter_options,
    table_rows,
    totals,
    window_seconds,
)
from bot.console.rendering import render, services_of
from bot.routing.decision import describe_reason

log = logging.getLogger(__name__)


async def page(request: web.Request) -> web.Response:
    """GET /audit?period=24h&channel=&user=&route=&reason="""
    services = services_of(request)
    period = PERIODS.get(request.query.get("period", ""), PERIODS[DEFAULT_PERIOD])
    filters = Filters(
        **{
            name: request.query.get(name, "").strip()[:100]
            for name in ("channel", "user", "route", "reason")
        }
    )
    now = time.time()
    try:
        records = await services.audit.since(window_seconds(now, period))
    except (aioredis.RedisError, OSError, TimeoutError):
        log.warning("console could not read the audit stream", exc_info=True)
        return render(
            request,
            "audit.html",
            status=503,
            error="The audit stream (Redis) did not answer.",
            period=period,
            periods=PERIODS.values(),
            filters=filters,
            options={"channel": [], "user": [], "route": [], "reason": []},
            charts_json="[]",
            totals=None,
            rows=[],
            names={},
            reason_words={},
        )

    def figures_of() -> tuple[str, list[dict[str, Any]], dict[str, Any], dict[str, list[str]]]:
        chosen = [r for r in records if filters.matches(r)]
        return (
            # Inside a <script> element: no `</` may close it early.
            json.dumps(build_charts(chosen, now, period)).replace("</", "<\\/"),
            table_rows(chosen),
            totals(chosen),
            filter_options(records),
        )

    # Filtering and bucketing 100,000 records takes a while: not on the event loop.
    charts_json, rows, figures, options = await asyncio.to_thread(figures_of)
    # Names the console knows (its own channels); Slack channels are shown by ID.
    names = {c.facts.channel_id: c.label for c in playground_channels(services.classifier.policy)}
    return render(
        request,
        "audit.html",
        error=None,
        period=period,
        periods=PERIODS.values(),
        filters=filters,
        options=options,
        charts_json=charts_json,
        totals=figures,
        rows=rows,
        names=names,
        reason_words={r: describe_reason(r) for r in options["reason"]},
    )


def add_routes(app: web.Application) -> None:
    """GET /audit."""
    app.router.add_get("/audit", page)
