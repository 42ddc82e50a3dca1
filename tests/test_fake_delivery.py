"""How the fakes deliver: their small HTTP/1.1 client against receivers that answer in each way HTTP
allows (Content-Length, chunked, until close, closing an idle kept connection, not listening), and the
deliverer's bounds: it gives up after max_attempts, a receiver slower than the timeout is a failure."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from core.net import free_port
from fakes.delivery import Chaos, Deliverer, Notice
from fakes.http_post import PostClient, PostError

# The providers' stand-ins alone: neither back end of the pass is reached.
pytestmark = pytest.mark.neutral

Reply = Callable[[int], Awaitable[bytes | None]]  # the n-th request's raw answer (None: close without one)


@asynccontextmanager
async def raw_server(reply: Reply, *, close_after: bool = False) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A loopback server answering each request with `reply(n)` bytes; yields its URL and the bodies seen."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                seen.append(await reader.readexactly(length))
                answer = await reply(len(seen))
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/hook", seen


def ok(body: bytes = b"success") -> Reply:
    async def reply(_n: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    return reply


async def test_content_length_chunked_and_until_close_answers_are_read() -> None:
    client = PostClient()
    async with raw_server(ok()) as (url, seen):
        first = await client.post(url, b"one", {"X-Test": "1"})
        second = await client.post(url, b"two", {})
    assert (first.status, first.body, second.body) == (200, b"success", b"success") and seen == [b"one", b"two"]

    async def chunked(_n: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsuc\r\n4\r\ncess\r\n0\r\n\r\n"
    async with raw_server(chunked) as (url, _seen):
        assert (await client.post(url, b"x", {})).body == b"success"

    async def until_close(_n: int) -> bytes:
        return b"HTTP/1.0 500 Oops\r\n\r\nfail"
    async with raw_server(until_close, close_after=True) as (url, _seen):
        answer = await client.post(url, b"x", {})
        assert (answer.status, answer.body) == (500, b"fail")
    await client.aclose()


async def test_a_kept_connection_the_receiver_closed_is_replaced() -> None:
    client = PostClient()
    async with raw_server(ok(), close_after=True) as (url, seen):  # says HTTP/1.1 keep-alive, then closes
        for n in range(3):
            assert (await client.post(url, str(n).encode(), {})).status == 200
    assert seen == [b"0", b"1", b"2"]
    await client.aclose()


async def test_no_receiver_or_no_answer_is_a_post_error() -> None:
    client = PostClient()
    with pytest.raises(PostError):
        await client.post(f"http://127.0.0.1:{free_port()}/hook", b"x", {})

    async def hang_up(_n: int) -> None:
        return None
    async with raw_server(hang_up) as (url, _seen):
        with pytest.raises(PostError):
            await client.post(url, b"x", {})
    with pytest.raises(PostError):
        await client.post("ftp://example.test/x", b"x", {})


def notice(url: str) -> Notice:
    return Notice(url=url, body=b"{}", headers=dict, label="test",
                  accepted=lambda status, body: status == 200 and body == b"success")


async def test_the_deliverer_gives_up_after_max_attempts() -> None:
    deliverer = Deliverer(Chaos(max_attempts=3, retry_base_seconds=0.01, retry_max_seconds=0.02))
    async with raw_server(ok(b"fail")) as (url, seen):
        deliverer.submit(notice(url))
        assert await deliverer.drain(10)
    stats = deliverer.stats()
    assert len(seen) == 3 and (stats["sent"], stats["retried"], stats["failed"], stats["delivered"]) == (3, 2, 1, 0)
    deliverer.submit(notice(f"http://127.0.0.1:{free_port()}/nobody"))
    assert await deliverer.drain(10)
    assert deliverer.stats()["failed"] == 2
    await deliverer.aclose()


async def test_a_receiver_slower_than_the_timeout_fails_that_attempt() -> None:
    async def slow_then_fine(n: int) -> bytes:
        if n == 1:
            await asyncio.sleep(0.5)
        return b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsuccess"

    deliverer = Deliverer(Chaos(max_attempts=2, retry_base_seconds=0.01, timeout_seconds=0.2))
    async with raw_server(slow_then_fine) as (url, seen):
        deliverer.submit(notice(url))
        assert await deliverer.drain(10)
    stats = deliverer.stats()
    assert len(seen) == 2 and (stats["sent"], stats["delivered"], stats["failed"]) == (2, 1, 0), stats
    await deliverer.aclose()
