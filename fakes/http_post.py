"""A small HTTP/1.1 client for the fakes' deliveries: POST a body, read the status and the body, keep
the connection for the next one. httpx costs about 2.4 ms of CPU per request on a small machine, this
about 0.1 ms; at a rehearsal's hundreds of webhooks a second the difference is the fake's whole core
(and a busy fake would inflate the receiver's latency it measures)."""
from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
Origin = tuple[str, str, int]  # scheme, host, port
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class PostError(Exception):
    """The receiver could not be reached, or its answer could not be read."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class _Unusable(Exception):
    """A kept connection turned out closed before it answered: try a fresh one."""


class PostClient:
    def __init__(self, keep: int = 32) -> None:
        self._keep = keep
        self._idle: dict[Origin, list[Connection]] = defaultdict(list)
        self._tls: ssl.SSLContext | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PostError(f"not an http(s) URL: {url!r}")
        origin = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rsplit("@", 1)[-1]
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}", "Connection: keep-alive"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        while self._idle[origin]:
            connection = self._idle[origin].pop()
            with contextlib.suppress(_Unusable):
                return await self._exchange(origin, connection, request, reused=True)
        return await self._exchange(origin, await self._connect(origin), request, reused=False)

    async def _connect(self, origin: Origin) -> Connection:
        scheme, host, port = origin
        if scheme == "https" and self._tls is None:
            self._tls = ssl.create_default_context()
        try:
            return await asyncio.open_connection(host, port, ssl=self._tls if scheme == "https" else None)
        except OSError as exc:
            raise PostError(f"cannot connect to {host}:{port}: {exc}") from exc

    async def _exchange(self, origin: Origin, connection: Connection, request: bytes, *, reused: bool) -> Answer:
        reader, writer = connection
        keep = False
        try:
            writer.write(request)
            await writer.drain()
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if reused and not exc.partial:
                    raise _Unusable from exc
                raise
            status, fields = _head(head)
            body, keep = await _body(reader, fields)
            said = fields.get("connection", "").lower()  # HTTP/1.1 keeps the connection unless told, 1.0 closes it
            keep = keep and ("close" not in said if head.startswith(b"HTTP/1.1") else "keep-alive" in said)
            return Answer(status, body)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            if reused and isinstance(exc, ConnectionError):
                raise _Unusable from exc
            raise PostError(f"bad or no answer: {exc!r}") from exc
        finally:
            if keep and len(self._idle[origin]) < self._keep:
                self._idle[origin].append(connection)
            else:
                writer.close()

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for _reader, writer in connections:
                writer.close()
        self._idle.clear()


def _head(head: bytes) -> tuple[int, dict[str, str]]:
    if len(head) > MAX_HEAD:
        raise ValueError("answer head too long")
    status_line, *rest = head.decode("latin-1").split("\r\n")
    version, _, code = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not code[:3].isdigit():
        raise ValueError(f"not an HTTP/1.x answer: {status_line[:60]!r}")
    fields = {}
    for line in rest:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return int(code[:3]), fields


async def _body(reader: asyncio.StreamReader, fields: dict[str, str]) -> tuple[bytes, bool]:
    """The answer's body and whether the connection can carry another request."""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent to us; the empty line ends the body
                return b"".join(chunks), True
            if size > MAX_BODY:
                raise ValueError("answer body too long")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if "content-length" in fields:
        length = int(fields["content-length"])
        if not 0 <= length <= MAX_BODY:
            raise ValueError("bad Content-Length")
        return await reader.readexactly(length), True
    return await reader.read(MAX_BODY), False  # the body ends when the receiver closes
