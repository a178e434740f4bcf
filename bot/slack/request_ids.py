"""Bolt middleware that gives each request the id its log lines carry (see `bot.logs`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest

from bot.logs import REQUEST_ID, REQUEST_ID_HEADER, new_request_id


async def request_id_middleware(req: AsyncBoltRequest, next: Callable[[], Awaitable[Any]]) -> Any:
    """The id the HTTP front chose (in a header of its own), or a fresh one for a request
    that came another way (Socket Mode)."""
    given = req.headers.get(REQUEST_ID_HEADER) or []
    REQUEST_ID.set(given[0] if given else new_request_id())
    return await next()
