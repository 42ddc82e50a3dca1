"""The FastAPI application: create_app() builds it; the lifespan makes engines and clients."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.bootstrap import running
from app.errors import install_error_handlers, problem_response
from app.metrics import MetricsMiddleware, metrics_endpoint
from app.routes.accounts import router as auth_router
from app.routes.fcodes import router as fcodes_router
from app.routes.health import router as health_router
from app.routes.images import router as images_router
from app.routes.purchase import purchase_route
from app.routes.sale import router as sale_router
from app.routes.share import router as share_router
from app.web import mount_static
from app.web import router as web_router
from app.web.media import mount_media
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
                    if not value.isdigit() or int(value) > limit:
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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, background=settings.run_background) as services:
            app.state.runtime = services.runtime
            app.state.services = services
            yield

    app = FastAPI(title="flashsale", version="0.1.0", lifespan=lifespan,
                  description="Limited-stock product drops. Contract: shared/API.md.")
    install_error_handlers(app)
    # The purchase first: the hot path is matched before any other route.
    app.router.routes.insert(0, purchase_route())
    app.include_router(health_router)
    app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    app.include_router(auth_router)
    app.include_router(sale_router)
    app.include_router(images_router)
    app.include_router(fcodes_router)
    app.include_router(share_router)
    app.include_router(web_router)
    mount_static(app)
    mount_media(app, settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    return app
