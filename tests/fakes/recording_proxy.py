"""An HTTP forward proxy on loopback that records every request it is asked to carry.

It speaks the two forms a client uses with a proxy: absolute-form requests for `http://`
targets (forwarded, so a client that legitimately uses the proxy keeps working) and
`CONNECT host:port` for `https://` targets (recorded and refused: nothing here is HTTPS).
Set it as HTTP(S)_PROXY, OPENAI_PROXY, ALL_PROXY... to see who obeys those variables.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp


@dataclass
class ProxiedRequest:
    """One request a client sent through the proxy."""

    method: str
    target: str
    body: bytes


@dataclass
class RecordingProxy:
    requests: list[ProxiedRequest] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None
    _session: aiohttp.ClientSession | None = None

    async def start(self) -> RecordingProxy:
        self._session = aiohttp.ClientSession()  # trust_env=False: it never proxies itself
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._session is not None:
            await self._session.close()

    def hosts(self) -> set[str]:
        """host:port of every target."""
        found = set()
        for r in self.requests:
            if r.method == "CONNECT":
                found.add(r.target)
            else:
                parts = urlsplit(r.target)
                found.add(f"{parts.hostname}:{parts.port}")
        return found

    def saw(self, fragment: str) -> bool:
        return any(fragment.encode() in r.body or fragment in r.target for r in self.requests)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(ProxiedRequest(method, target, body))
                if method == "CONNECT" or not target.startswith("http://"):
                    writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    return
                await self._forward(writer, method, target, headers, body)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()

    async def _forward(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        assert self._session is not None
        skip = {"host", "content-length", "proxy-connection", "connection", "proxy-authorization"}
        forwarded = {k: v for k, v in headers.items() if k not in skip}
        async with self._session.request(method, target, headers=forwarded, data=body) as answer:
            content = await answer.read()
            head = [f"HTTP/1.1 {answer.status} {answer.reason}"]
            head += [
                f"{k}: {v}"
                for k, v in answer.headers.items()
                if k.lower() not in {"content-length", "transfer-encoding", "connection"}
            ]
            head += [f"Content-Length: {len(content)}", "", ""]
            writer.write("\r\n".join(head).encode("latin-1") + content)
            await writer.drain()
