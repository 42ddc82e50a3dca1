"""The FastAPI application: create_app() builds it; the lifespan makes engines and clients."""
from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.bootstrap import running
from app.docs import install_docs
from app.errors import install_error_handlers, problem_response
from app.live_metrics import live_metrics
from app.metrics import MetricsMiddleware, RenderedMetrics, metrics_endpoint
from app.problems import complete
from app.public_url import PublicRedirectsMiddleware
from app.routes.accounts import router as auth_router
from app.routes.addresses import router as addresses_router
from app.routes.admin import router as admin_router
from app.routes.controls import router as controls_router
from app.routes.draws import entry_route
from app.routes.draws import router as draws_router
from app.routes.fcodes import router as fcodes_router
from app.routes.health import router as health_router
from app.routes.images import router as images_router
from app.routes.messages import router as messages_router
from app.routes.payments import router as payments_router
from app.routes.purchase import purchase_route
from app.routes.queue import router as queue_router
from app.routes.sale import hot_routes
from app.routes.sale import router as sale_router
from app.routes.share import router as share_router
from app.routes.waitlist import router as waitlist_router
from app.tracing import traced
from app.web import mount_static
from app.web import router as web_router
from app.web.media import mount_media
from core.clock import SYSTEM_CLOCK, Clock
from core.settings import Settings
from sale.images.processing import MAX_UPLOAD_BYTES

# Picture uploads may be larger than other bodies: the file's own cap plus room for the multipart framing.
UPLOAD_PATH = re.compile(r"^/api/admin/drops/[^/]+/image$")
UPLOAD_MAX_BYTES = MAX_UPLOAD_BYTES + 64 * 1024


class BodyLimitMiddleware:
    """Refuses bodies over the configured size with 413 before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limit = UPLOAD_MAX_BYTES if UPLOAD_PATH.match(scope["path"]) else self.max_bytes
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if not value.isdigit() or int(value) > limit:  # bytes.isdigit(): ASCII digits only
                        response = problem_response(413, "payload_too_large",
                                                    f"Request bodies are limited to {limit} bytes")
                        await response(scope, receive, send)
                        return
                    break
            else:
                if scope["method"] in ("POST", "PUT", "PATCH"):
                    receive = self._counting(receive, limit)
        await self.app(scope, receive, send)

    def _counting(self, receive: Receive, limit: int) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # An HTTPException passes through FastAPI's body parsing (anything else becomes a 400).
                raise HTTPException(413, f"Request bodies are limited to {limit} bytes")
            return message

        return counted


def settle_heap() -> None:
    """After start-up: what exists now (modules, routes, services) lives as long as the worker, so
    it is moved out of the collector's sight (gc.freeze) and the youngest generation is collected
    less often: full collections walking the whole start-up heap were pauses of the event loop that
    every request in flight waited out."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


GC_YOUNG_THRESHOLD = 10_000  # allocations between young collections (Python's default is 700)


def create_app(settings: Settings | None = None, *, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, background=settings.run_background, clock=clock) as services:
            app.state.runtime = services.runtime
            app.state.services = services
            app.state.rendered_metrics = RenderedMetrics(live_metrics(services.runtime, services.messages))
            async with traced(app, services.runtime):  # only with FLASHSALE_OTEL_ENDPOINT set
                if settings.settle_heap:
                    settle_heap()
                yield

    app = FastAPI(title="flashsale", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Limited-stock product drops. Contract: shared/API.md.")
    install_docs(app)  # /docs and /redoc from the package's own files (no CDN)
    install_error_handlers(app)
    # The hot paths first: matched before any other route.
    app.router.routes[0:0] = [purchase_route(), *hot_routes(), entry_route()]
    app.include_router(health_router)
    app.state.rendered_metrics = RenderedMetrics()
    app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    app.include_router(auth_router)
    app.include_router(sale_router)
    app.include_router(queue_router)
    app.include_router(draws_router)
    app.include_router(waitlist_router)
    app.include_router(images_router)
    app.include_router(fcodes_router)
    app.include_router(controls_router)
    app.include_router(admin_router)
    app.include_router(share_router)
    app.include_router(payments_router)
    app.include_router(messages_router)
    app.include_router(addresses_router)
    app.include_router(web_router)
    mount_static(app)
    mount_media(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(PublicRedirectsMiddleware)
    app.add_middleware(MetricsMiddleware)
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """The OpenAPI document lists the problem answers of every operation (see app/problems.py)."""
    make_document = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(make_document())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
