"""uvicorn as `flashsale serve` runs it, with the timeouts a public server needs.

uvicorn times out idle keep-alive connections, but not a request head that never finishes: a
client sending half a header (slowloris) holds its connection, and a few thousand of them hold
the server. `HeadTimeoutProtocol` gives every request head a deadline, from the moment the
connection opens (or the previous response ended) until the head is complete. Nor does it time
a body: one sent a byte a second holds a connection and a request in flight for as long as the
client likes. The same protocol gives the whole body a deadline from the end of the head; a body
late is answered 408 (unless a response has begun) and the connection closed.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_ENV = "FLASHSALE_HTTP_HEADER_TIMEOUT_SECONDS"
BODY_TIMEOUT_ENV = "FLASHSALE_HTTP_BODY_TIMEOUT_SECONDS"
DEFAULT_HEAD_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 10.0
LINGER_SECONDS = 1.0
REQUEST_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                            b"content-length: 22\r\nconnection: close\r\n\r\nRequest body too slow\r\n")
MAX_INCOMPLETE_EVENT_BYTES = 16 * 1024  # h11's buffer for an unfinished head (when h11 serves)


def _seconds(name: str, default: float) -> float:
    """Read in each worker process (uvicorn spawns them: class attributes set here would not travel)."""
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def head_timeout() -> float:
    return _seconds(HEAD_TIMEOUT_ENV, DEFAULT_HEAD_TIMEOUT)


def body_timeout() -> float:
    return _seconds(BODY_TIMEOUT_ENV, DEFAULT_BODY_TIMEOUT)


class HeadTimeoutProtocol(HttpToolsProtocol):
    """httptools, plus: a request head not complete within the head timeout closes the connection;
    a body not complete within the body timeout is answered 408 and the connection closed."""

    _head_timeout: float | None = None
    _body_timeout: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if HeadTimeoutProtocol._head_timeout is None:
            HeadTimeoutProtocol._head_timeout = head_timeout()
        if HeadTimeoutProtocol._body_timeout is None:
            HeadTimeoutProtocol._body_timeout = body_timeout()
        self._head_deadline: asyncio.TimerHandle | None = None
        self._in_body = False  # the deadline armed is the body's
        self._discarding = False  # a body timed out: what the client still sends is dropped

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        assert self._head_timeout is not None
        self._in_body = False
        self._head_deadline = self.loop.call_later(self._head_timeout, self._head_too_slow)

    def _arm_body_deadline(self) -> None:
        self._disarm_head_deadline()
        assert self._body_timeout is not None
        self._in_body = True
        self._head_deadline = self.loop.call_later(self._body_timeout, self._body_too_slow)

    def _body_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None:
            if not self.cycle.response_started:
                self.transport.write(REQUEST_TIMEOUT_RESPONSE)
            # The app's receive() answers http.disconnect now, and its own answer, if any, is dropped.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        # Closing now, with the client's bytes unread, would reset the connection and lose the 408:
        # end our side, drop what still comes for a moment, then close.
        self._discarding = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if not self._discarding:
            super().data_received(data)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._arm_body_deadline()  # disarmed when the message is complete (at once for a bodiless one)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._in_body:
            self._disarm_head_deadline()
            self._in_body = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm_head_deadline()  # the next request's head, after the keep-alive wait

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)


def server_options(keep_alive_seconds: int) -> dict[str, Any]:
    """uvicorn.run/Config keyword arguments shared by `flashsale serve`, the benchmark and the tests."""
    # proxy_headers off: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1 and take the
    # leftmost entry; app/deps.py client_address alone reads it, per FLASHSALE_TRUSTED_PROXIES.
    return {"loop": "uvloop", "http": HeadTimeoutProtocol, "timeout_keep_alive": keep_alive_seconds,
            "proxy_headers": False, "forwarded_allow_ips": "",
            "h11_max_incomplete_event_size": MAX_INCOMPLETE_EVENT_BYTES, "access_log": False,
            "timeout_graceful_shutdown": 5}
