"""What every console page shares: the templates, and the services of the running bot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from aiohttp import web

from bot.console.guard import ACCESS_KEY, CSRF, SESSION

if TYPE_CHECKING:
    from bot.app import Services
    from bot.slack.delivery import ReplyGuard

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
SERVICES_KEY: web.AppKey[Services] = web.AppKey("console_services")
# Admits each question within Slack's per-person and per-channel limits.
REPLY_GUARD_KEY: web.AppKey[ReplyGuard] = web.AppKey("console_reply_guard")


def services_of(request: web.Request) -> Services:
    """The bot's services: the same answer service, router, memory and audit as Slack's."""
    return request.app[SERVICES_KEY]


def render(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    """A console page, with what every page needs (the CSRF token, the navigation)."""
    access = request.app[ACCESS_KEY]
    session = request.get(SESSION)
    html = TEMPLATES.get_template(template).render(
        csrf=request.get(CSRF, ""),
        sign_in_required=not access.loopback_only,
        token_sign_in=access.token is not None,
        slack_sign_in=access.slack,
        user=session.user if session is not None else "",
        path=request.path,
        **values,
    )
    return web.Response(text=html, content_type="text/html", status=status)
