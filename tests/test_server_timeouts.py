"""Server timeouts, as `flashsale serve` configures uvicorn: a request head must arrive in time
(slowloris: half a header, or a byte at a time, is cut off), and a body too (answered 408); idle
keep-alive connections close."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn

from app.server import HeadTimeoutProtocol, server_options
from core.net import free_port
from core.settings import Settings
from tests.test_platform import fresh_app

# Real time: the server's own timeouts, waited for.
pytestmark = pytest.mark.slow

HEAD_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
KEEP_ALIVE = 1


@asynccontextmanager
async def live_server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[int]:
    monkeypatch.setattr(HeadTimeoutProtocol, "_head_timeout", HEAD_TIMEOUT)
    monkeypatch.setattr(HeadTimeoutProtocol, "_body_timeout", BODY_TIMEOUT)
    port = free_port()
    options = {**server_options(KEEP_ALIVE), "loop": "asyncio"}  # the test's own loop runs it
    config = uvicorn.Config(fresh_app(settings), host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def closed_after(reader: asyncio.StreamReader, limit: float) -> float:
    """Seconds until the server closes the connection (reads what it sends meanwhile)."""
    started = time.monotonic()
    async with asyncio.timeout(limit):
        while await reader.read(4096):
            pass
    return time.monotonic() - started


async def test_half_a_header_is_cut_off(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_server(settings, monkeypatch) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        await writer.drain()
        assert await closed_after(reader, HEAD_TIMEOUT + 3) < HEAD_TIMEOUT + 1.5
        writer.close()


async def test_a_byte_at_a_time_does_not_keep_the_head_alive(settings: Settings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_server(settings, monkeypatch) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        with pytest.raises((ConnectionError, OSError)):
            for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)
                if reader.at_eof() or writer.is_closing() or not await _still_open(reader):
                    raise ConnectionResetError
        assert time.monotonic() - started < HEAD_TIMEOUT + 1.5
        writer.close()


async def _still_open(reader: asyncio.StreamReader) -> bool:
    try:
        async with asyncio.timeout(0.01):
            return bool(await reader.read(1)) or not reader.at_eof()
    except TimeoutError:
        return True


async def test_a_silent_connection_is_closed(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_server(settings, monkeypatch) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_after(reader, HEAD_TIMEOUT + 3) < HEAD_TIMEOUT + 1.5
        writer.close()


async def test_keep_alive_works_then_idle_connections_close(settings: Settings,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_server(settings, monkeypatch) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(3):  # slower than nothing, quicker than the timeouts: served on one connection
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            await asyncio.sleep(HEAD_TIMEOUT / 3)
        assert await closed_after(reader, KEEP_ALIVE + 3) < max(KEEP_ALIVE, HEAD_TIMEOUT) + 1.5
        writer.close()


SLOW_BODY_HEAD = (b"POST /api/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 200\r\n\r\n")


async def _drip(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Sends a byte of body every 0.2 s for at most `seconds`; returns what the server answered."""
    answer = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not reader.at_eof():
        try:
            writer.write(b" ")
            await writer.drain()
        except (ConnectionError, OSError):
            break
        try:
            async with asyncio.timeout(0.2):
                answer += await reader.read(4096)
        except TimeoutError:
            pass
        except ConnectionError:
            break  # closed: what was answered before is kept
    return answer


async def test_a_body_a_byte_at_a_time_is_answered_408(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_server(settings, monkeypatch) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(SLOW_BODY_HEAD)
        answer = await _drip(writer, reader, BODY_TIMEOUT + 5)
        assert time.monotonic() - started < BODY_TIMEOUT + 1.5
        assert answer.startswith(b"HTTP/1.1 408"), answer
        writer.close()


async def test_a_body_in_time_is_served_and_the_next_head_is_still_timed(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_server(settings, monkeypatch) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b'{"email": "nobody@example.com", "password": "wrong-password"}'
        writer.write(SLOW_BODY_HEAD.replace(b"200", str(len(body)).encode()) + body)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert not head.startswith(b"HTTP/1.1 408"), head
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # then nothing more
        await writer.drain()
        assert await closed_after(reader, HEAD_TIMEOUT + 3) < HEAD_TIMEOUT + 1.5
        writer.close()
