"""The audit page's figures: audit records (never message text) turned into chart series and
table rows. Pure; the page draws the series with Chart.js."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.audit import AuditRecord, percentile
from bot.routing.decision import describe_reason


@dataclass(frozen=True)
class Period:
    """A period the audit page can show, and the width of its time buckets."""

    key: str
    label: str
    seconds: int
    bucket_s: int
    bucket_label: str


PERIODS = {
    p.key: p
    for p in (
        Period("1h", "last hour", 3600, 300, "5 minutes"),
        Period("24h", "last 24 hours", 86_400, 3600, "hour"),
        Period("7d", "last 7 days", 7 * 86_400, 6 * 3600, "6 hours"),
    )
}
DEFAULT_PERIOD = "24h"
TABLE_ROWS = 100

ROUTE_LABELS = {"local": "on-prem", "closed": "closed API"}
ROUTE_COLORS = {"local": "#2e7d32", "closed": "#1565c0"}
# Outcomes where the asker got no model answer, and answers that came from elsewhere.
NOT_ANSWERED = ("refused", "timeout", "busy", "too_long", "unavailable", "rate_limited", "error")
# The eight most frequent reasons of the period, in order.
REASON_COLORS = (
    "#2e7d32",
    "#1565c0",
    "#6a1b9a",
    "#ef6c00",
    "#00838f",
    "#ad1457",
    "#4e342e",
    "#9e9d24",
)
OUTCOME_COLORS = {
    "fallback": "#f9a825",
    "refused": "#c62828",
    "timeout": "#6a1b9a",
    "busy": "#ef6c00",
    "too_long": "#4e342e",
    "unavailable": "#37474f",
    "rate_limited": "#00838f",
    "error": "#ad1457",
}


@dataclass(frozen=True)
class Filters:
    """The table's and charts' filters; an empty field matches everything."""

    channel: str = ""
    user: str = ""
    route: str = ""
    reason: str = ""

    def matches(self, record: AuditRecord) -> bool:
        """True when the record passes every filter that is set."""
        return (
            (not self.channel or record.channel == self.channel)
            and (not self.user or record.user == self.user)
            and (not self.route or record.route == self.route)
            and (not self.reason or self.reason in record.reasons)
        )


def bucket_starts(now: float, period: Period) -> list[int]:
    """The start of every bucket, oldest first, aligned to the bucket width: the current
    (partial) bucket and enough before it to cover the whole period."""
    last = int(now) // period.bucket_s * period.bucket_s
    count = period.seconds // period.bucket_s + 1
    return [last - (count - 1 - i) * period.bucket_s for i in range(count)]


def window_seconds(now: float, period: Period) -> float:
    """How far back to read so that the charts, figures and table show the same records:
    from the start of the oldest bucket."""
    return now - bucket_starts(now, period)[0]


def bucket_label(start: int, period: Period) -> str:
    """`14:05` within a day, `Mon 18:00` beyond (UTC)."""
    fmt = "%H:%M" if period.seconds <= 86_400 else "%a %H:%M"
    return time.strftime(fmt, time.gmtime(start))


def _chart(
    chart_id: str,
    title: str,
    kind: str,
    x: str,
    y: str,
    labels: list[str],
    datasets: list[dict[str, Any]],
    **options: Any,
) -> dict[str, Any]:
    empty = not any(v for d in datasets for v in d["data"] if v is not None)
    return {
        "id": chart_id,
        "title": title,
        "kind": kind,
        "x": x,
        "y": y,
        "labels": labels,
        "datasets": datasets,
        "empty": empty,
        **options,
    }


def build_charts(
    records: Iterable[AuditRecord], now: float, period: Period
) -> list[dict[str, Any]]:
    """Seven charts, each with its title, axis titles (with units) and series."""
    everything = list(records)
    requests = [r for r in everything if r.kind == "request"]
    starts = bucket_starts(now, period)
    labels = [bucket_label(s, period) for s in starts]
    first = starts[0]

    def bucket(r: AuditRecord) -> int | None:
        index = (int(r.time) - first) // period.bucket_s
        return index if 0 <= index < len(starts) else None

    time_axis = f"time (UTC), per {period.bucket_label}"
    per_route: dict[str, list[int]] = {route: [0] * len(starts) for route in ROUTE_LABELS}
    per_outcome: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    totals = [0] * len(starts)
    for r in requests:
        i = bucket(r)
        if i is None:
            continue
        per_route.setdefault(r.route, [0] * len(starts))[i] += 1
        totals[i] += 1
        if r.outcome == "fallback" or r.outcome in NOT_ANSWERED:
            per_outcome[r.outcome][i] += 1
    share = [
        round(100 * per_route["local"][i] / totals[i], 1) if totals[i] else None
        for i in range(len(starts))
    ]

    top = [reason for reason, _ in Counter(x for r in requests for x in r.reasons).most_common(8)]
    per_reason: dict[str, list[int]] = {reason: [0] * len(starts) for reason in top}
    for r in requests:
        i = bucket(r)
        if i is not None:
            for reason in r.reasons:
                if reason in per_reason:
                    per_reason[reason][i] += 1
    by_model: dict[str, list[AuditRecord]] = defaultdict(list)
    for r in requests:
        by_model[r.answered_by or r.model].append(r)
    models = sorted(by_model)
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for r in everything:
        if r.kind == "feedback" and r.vote:
            votes[f"{ROUTE_LABELS.get(r.route, r.route)} · {r.answered_by or r.model}"][r.vote] += 1
    voted = sorted(votes)

    return [
        _chart(
            "requests-by-route",
            "Requests by route",
            "bar",
            time_axis,
            "requests",
            labels,
            [
                {
                    "label": ROUTE_LABELS.get(route, route),
                    "data": counts,
                    "color": ROUTE_COLORS.get(route, "#757575"),
                }
                for route, counts in per_route.items()
            ],
            stacked=True,
        ),
        _chart(
            "onprem-share",
            "Share of requests answered on-prem",
            "line",
            time_axis,
            "% of requests",
            labels,
            [{"label": "on-prem", "data": share, "color": ROUTE_COLORS["local"]}],
            y_max=100,
        ),
        _chart(
            "reasons",
            "Why requests were routed as they were (a request may have several reasons)",
            "bar",
            time_axis,
            "requests",
            labels,
            [
                {"label": describe_reason(reason), "data": counts, "color": REASON_COLORS[n]}
                for n, (reason, counts) in enumerate(per_reason.items())
            ],
            stacked=True,
        ),
        _chart(
            "refusals",
            "Refusals, failures and fallbacks",
            "bar",
            time_axis,
            "requests",
            labels,
            [
                {"label": outcome.replace("_", " "), "data": per_outcome[outcome], "color": color}
                for outcome, color in OUTCOME_COLORS.items()
                if outcome in per_outcome
            ],
            stacked=True,
        ),
        _chart(
            "latency",
            "Latency by model (arrival to answer)",
            "bar",
            "model",
            "milliseconds",
            models,
            [
                {
                    "label": name,
                    "data": [percentile([r.latency_ms for r in by_model[m]], p) for m in models],
                    "color": color,
                }
                for name, p, color in (("p50", 0.5, "#90caf9"), ("p95", 0.95, "#1565c0"))
            ],
        ),
        _chart(
            "tokens",
            "Tokens by model",
            "bar",
            "model",
            "tokens",
            models,
            [
                {
                    "label": "input",
                    "data": [sum(r.input_tokens or 0 for r in by_model[m]) for m in models],
                    "color": "#80cbc4",
                },
                {
                    "label": "output",
                    "data": [sum(r.output_tokens or 0 for r in by_model[m]) for m in models],
                    "color": "#00695c",
                },
            ],
            stacked=True,
        ),
        _chart(
            "feedback",
            "Feedback by route and model",
            "bar",
            "route · model",
            "votes",
            voted,
            [
                {"label": "good", "data": [votes[k]["good"] for k in voted], "color": "#2e7d32"},
                {"label": "bad", "data": [votes[k]["bad"] for k in voted], "color": "#c62828"},
            ],
            stacked=True,
        ),
    ]


def totals(records: Iterable[AuditRecord]) -> dict[str, Any]:
    """The figures above the charts: requests, the share on-prem, refusals, fallbacks and
    latency percentiles."""
    requests = [r for r in records if r.kind == "request"]
    local = sum(1 for r in requests if r.route == "local")
    latencies = [r.latency_ms for r in requests]
    return {
        "requests": len(requests),
        "onprem_percent": round(100 * local / len(requests), 1) if requests else None,
        "not_answered": sum(1 for r in requests if r.outcome in NOT_ANSWERED),
        "fallbacks": sum(1 for r in requests if r.outcome == "fallback"),
        "p50_ms": percentile(latencies, 0.5),
        "p95_ms": percentile(latencies, 0.95),
    }


def table_rows(records: Iterable[AuditRecord], limit: int = TABLE_ROWS) -> list[dict[str, Any]]:
    """The newest records first: IDs, route, reasons, model, outcome and figures; no text."""
    rows = []
    for r in sorted(records, key=lambda r: r.time, reverse=True)[:limit]:
        rows.append(
            {
                "time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.time)),
                "kind": r.kind,
                "channel": r.channel,
                "channel_kind": r.channel_kind or "",
                "user": r.user,
                "route": r.route,
                "reasons": list(r.reasons),
                "model": r.answered_by or r.model,
                "outcome": r.vote if r.kind == "feedback" else r.outcome,
                "latency_ms": r.latency_ms if r.kind == "request" else None,
                "tokens": (r.input_tokens or 0) + (r.output_tokens or 0)
                if r.input_tokens is not None or r.output_tokens is not None
                else None,
            }
        )
    return rows


def filter_options(records: Iterable[AuditRecord]) -> dict[str, list[str]]:
    """The values each filter can take in this period (for the filter form's lists)."""
    everything = list(records)
    return {
        "channel": sorted({r.channel for r in everything}),
        "user": sorted({r.user for r in everything}),
        "route": sorted({r.route for r in everything}),
        "reason": sorted({reason for r in everything for reason in r.reasons}),
    }
