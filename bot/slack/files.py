"""Reading files shared in Slack (`files:read`): uploaded `.eml` and text files."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 2 * 1024 * 1024
EMAIL_EXTENSIONS = (".eml", ".txt", ".text", ".email")
EMAIL_MIMETYPES = frozenset({"message/rfc822", "text/plain"})
SLACK_FILE_HOSTS = frozenset({"files.slack.com"})


class FileReadError(Exception):
    """A shared file could not be read; the message says why, for the user."""


def is_email_file(file: dict[str, Any]) -> bool:
    """An `.eml` or a plain-text file."""
    name = str(file.get("name") or file.get("title") or "").lower()
    return name.endswith(EMAIL_EXTENSIONS) or str(file.get("mimetype", "")) in EMAIL_MIMETYPES


class FileReader:
    """Downloads shared files with the bot token, only from Slack's own hosts."""

    def __init__(self, allowed_hosts: frozenset[str]) -> None:
        # The bot token goes in the request: never send it anywhere but Slack.
        self._allowed_hosts = SLACK_FILE_HOSTS | allowed_hosts

    async def read(self, web: AsyncWebClient, file: dict[str, Any]) -> tuple[str, bytes]:
        """The file's name and content."""
        url = file.get("url_private_download") or file.get("url_private")
        if not url and file.get("id"):
            try:
                info = await web.files_info(file=str(file["id"]))
            except SlackApiError as exc:
                raise FileReadError(
                    f"Slack would not share the file ({exc.response.get('error')})"
                ) from None
            file = info.get("file") or {}
            url = file.get("url_private_download") or file.get("url_private")
        if not url:
            raise FileReadError("the file has no download address")
        if int(file.get("size") or 0) > MAX_FILE_BYTES:
            raise FileReadError(f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
        if urlsplit(str(url)).hostname not in self._allowed_hosts:
            raise FileReadError("the file is not hosted by Slack")
        headers = {"Authorization": f"Bearer {web.token}"}
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(str(url), headers=headers, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise FileReadError(f"downloading the file failed (HTTP {response.status})")
            content = await response.content.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            raise FileReadError(f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
        if content.lstrip().lower().startswith((b"<!doctype html", b"<html")) and not str(
            file.get("name", "")
        ).lower().endswith((".html", ".htm")):
            # Slack answers a login page, not the file, when the token lacks files:read.
            raise FileReadError(
                "Slack sent a web page instead of the file (is files:read granted?)"
            )
        return str(file.get("name") or "file"), content
