"""Reading files shared in Slack (`files:read`): uploaded `.eml` and text files.

The bot token travels with every download, so a download goes only over HTTPS to Slack's
own file host, or to the one origin an operator configured for tests (SLACK_FILE_ORIGIN;
plain HTTP only on loopback). The size cap is enforced on the bytes actually read, as well
as on the declared `size` and `Content-Length`; a file is read to its end or refused, never
cut short in silence.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.file_origins import download_allowed

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 2 * 1024 * 1024
DOWNLOAD_TIMEOUT_S = 30
EMAIL_EXTENSIONS = (".eml", ".txt", ".text", ".email")
EMAIL_MIMETYPES = frozenset({"message/rfc822", "text/plain"})
_TOO_LARGE = f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB"


class FileReadError(Exception):
    """A shared file could not be read; the message says why, for the user."""


def is_email_file(file: dict[str, Any]) -> bool:
    """An `.eml` or a plain-text file."""
    name = str(file.get("name") or file.get("title") or "").lower()
    return name.endswith(EMAIL_EXTENSIONS) or str(file.get("mimetype", "")) in EMAIL_MIMETYPES


class FileReader:
    """Downloads shared files with the bot token, only from Slack's own host."""

    def __init__(self, extra_origin: str | None = None) -> None:
        self._extra_origin = extra_origin

    async def read(self, web: AsyncWebClient, file: dict[str, Any]) -> tuple[str, bytes]:
        """The file's name and whole content."""
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
        try:
            declared = int(file.get("size") or 0)
        except (TypeError, ValueError):
            declared = 0
        if declared > MAX_FILE_BYTES:
            raise FileReadError(_TOO_LARGE)
        if not download_allowed(str(url), self._extra_origin):
            raise FileReadError("the file is not on Slack's file host over HTTPS")
        try:
            content = await self._download(str(url), str(web.token))
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("file download failed", extra={"error": type(exc).__name__})
            raise FileReadError("downloading the file failed") from None
        if content.lstrip().lower().startswith((b"<!doctype html", b"<html")) and not str(
            file.get("name", "")
        ).lower().endswith((".html", ".htm")):
            # Slack answers a login page, not the file, when the token lacks files:read.
            raise FileReadError(
                "Slack sent a web page instead of the file (is files:read granted?)"
            )
        return str(file.get("name") or "file"), content

    async def _download(self, url: str, token: str) -> bytes:
        timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_S)
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise FileReadError(f"downloading the file failed (HTTP {response.status})")
            if (response.content_length or 0) > MAX_FILE_BYTES:
                raise FileReadError(_TOO_LARGE)
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                received += len(chunk)
                if received > MAX_FILE_BYTES:
                    raise FileReadError(_TOO_LARGE)
                chunks.append(chunk)
            return b"".join(chunks)
