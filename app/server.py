"""uvicorn as `flashsale serve` runs it, with the timeouts a public server needs.

uvicorn times out idle keep-alive connections, but not a request head that never finishes: a
client sending half a header (slowloris) holds its connection, and a few thousand of them hold
the server. `HeadTimeoutProtocol` gives every request head a deadline, from the moment the
connection opens (or the previous response ended) until the head is complete.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_ENV = "FLASHSALE_HTTP_HEADER_TIMEOUT_SECONDS"
DEFAULT_HEAD_TIMEOUT = 10.0
MAX_INCOMPLETE_EVENT_BYTES = 16 * 1024  # h11's buffer for an unfinished head (when h11 serves)


def head_timeout() -> float:
    """Read in each worker process (uvicorn spawns them: class attributes set here would not travel)."""
    raw = os.environ.get(HEAD_TIMEOUT_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_HEAD_TIMEOUT
    except ValueError:
        return DEFAULT_HEAD_TIMEOUT


class HeadTimeoutProtocol(HttpToolsProtocol):
    """httptools, plus: a request head not complete within the head timeout closes the connection."""

    _head_timeout: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if HeadTimeoutProtocol._head_timeout is None:
            HeadTimeoutProtocol._head_timeout = head_timeout()
        self._head_deadline: asyncio.TimerHandle | None = None

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        assert self._head_timeout is not None
        self._head_deadline = self.loop.call_later(self._head_timeout, self._head_too_slow)

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
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm_head_deadline()  # the next request's head, after the keep-alive wait

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)


def server_options(keep_alive_seconds: int) -> dict[str, Any]:
    """uvicorn.run/Config keyword arguments shared by `flashsale serve`, the benchmark and the tests."""
    return {"loop": "uvloop", "http": HeadTimeoutProtocol, "timeout_keep_alive": keep_alive_seconds,
            "h11_max_incomplete_event_size": MAX_INCOMPLETE_EVENT_BYTES, "access_log": False,
            "timeout_graceful_shutdown": 5}
