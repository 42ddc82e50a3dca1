"""Serves the Prometheus metrics and times every request by route template and status (pure ASGI, cheap).

Every label comes from a fixed set, so the text's size does not grow with what clients send: a
method outside the standard ones is `other`, a route is its template (a path no route matches is
`unmatched`). The text is rendered in a thread (on the event loop, a large registry held every
request of the worker for as long as a scrape took), one render at a time, and reused for
FLASHSALE_METRICS_MAX_AGE_SECONDS: scrapers in a loop cost at most one render a second, not a
core. Before each render the gauges read at scrape time are refreshed (app/live_metrics.py: awaited
on the event loop, bounded by their probe's time). Only the addresses in FLASHSALE_METRICS_ALLOW
or an operator's token may read it (it tells the sales volume); anyone else gets a 404.
"""
from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.deps import client_address
from app.live_metrics import LiveMetrics
from core.errors import DomainError
from core.metrics import LATENCY, REGISTRY, REQUESTS
from core.net import networks, within
from core.runtime import Runtime

METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
OTHER_METHOD = "other"
UNMATCHED_ROUTE = "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], Any] = {}
        self._hist: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
            key = (method, template, status)
            counter = self._children.get(key)
            if counter is None:
                counter = self._children[key] = REQUESTS.labels(method, template, str(status))
            counter.inc()
            hkey = (method, template)
            hist = self._hist.get(hkey)
            if hist is None:
                hist = self._hist[hkey] = LATENCY.labels(method, template)
            hist.observe(time.perf_counter() - start)


async def _may_read(request: Request) -> bool:
    runtime: Runtime = request.app.state.runtime
    if within(client_address(request), networks(runtime.settings.metrics_allow)):
        return True
    authorization = request.headers.get("authorization")
    if not authorization:
        return False
    try:
        claims = await runtime.versions.check(runtime.tokens.from_header(authorization))
    except DomainError:
        return False
    return claims.role == "operator"


class RenderedMetrics:
    """The last rendering and when it was made; concurrent scrapes wait for one render. `live`, set by
    the lifespan, holds the gauges read at scrape time."""

    def __init__(self, live: LiveMetrics | None = None) -> None:
        self.body = b""
        self.made = float("-inf")
        self.lock = asyncio.Lock()
        self.live = live

    async def get(self, max_age: float) -> bytes:
        if time.monotonic() - self.made < max_age:
            return self.body
        async with self.lock:
            if time.monotonic() - self.made >= max_age:  # not rendered meanwhile by another scrape
                extra = None
                if self.live is not None:
                    await self.live.refresh()
                    extra = self.live.registry
                self.body = await asyncio.to_thread(_render, extra)
                self.made = time.monotonic()
            return self.body


def _render(live: CollectorRegistry | None = None) -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    # The live gauges come from shared state (Redis, the database): any worker's reading is everyone's.
    return generate_latest(registry) + (generate_latest(live) if live is not None else b"")


async def metrics_endpoint(request: Request) -> Response:
    if not await _may_read(request):
        raise HTTPException(404)  # the same answer as a path that does not exist
    rendered: RenderedMetrics = request.app.state.rendered_metrics
    body = await rendered.get(request.app.state.runtime.settings.metrics_max_age_seconds)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
