"""The one place that renders RFC 9457 problem details (the error classes live in core/errors.py)."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import ClusterError, ReadOnlyError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.web.router import not_found_page
from core.errors import DomainError

log = logging.getLogger("flashsale.errors")
PROBLEM_TYPE = "https://flashsale.dev/problems/"


def problem_response(status: int, code: str, detail: str, *, title: str | None = None,
                     headers: Mapping[str, str] | None = None,
                     extra: Mapping[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if extra:
        body.update(extra)
    return Response(orjson.dumps(body), status_code=status, headers=dict(headers or {}),
                    media_type="application/problem+json")


def domain_problem(exc: DomainError) -> Response:
    return problem_response(exc.status, exc.code, exc.detail, title=exc.title, headers=exc.headers,
                            extra=exc.extra)


_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               413: "payload_too_large", 415: "unsupported_media_type", 429: "rate_limited"}


def _field_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"loc": loc, "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))})
    return out


def _wants_page(request: Request) -> bool:
    """A browser navigating outside the API gets HTML; scripts and the API get problem details."""
    path = request.url.path
    return (request.method in ("GET", "HEAD") and not path.startswith(("/api/", "/s/", "/static/"))
            and "text/html" in request.headers.get("accept", ""))


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        return domain_problem(exc)

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = _field_errors(exc.errors())
        detail = "; ".join(f"{'.'.join(e['loc'][1:] or e['loc'])}: {e['msg']}" for e in errors)[:500]
        return problem_response(422, "validation_error", detail or "Invalid request",
                                title="Invalid request", extra={"errors": errors})

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404 and _wants_page(request):
            return not_found_page(request)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(exc.status_code, code, detail, headers=exc.headers)

    async def on_backend_down(request: Request, exc: Exception) -> Response:
        log.error("backend unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return problem_response(503, "service_unavailable",
                                "A back-end service is briefly unavailable; retry.",
                                headers={"Retry-After": "1"})

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        # Logged with the route only: bodies and headers may carry secrets or personal data.
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "internal_error", "Something went wrong on our side; it was logged.")

    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RedisConnectionError, on_backend_down)
    app.add_exception_handler(RedisTimeoutError, on_backend_down)
    # A Redis Cluster failing over: a primary is down (CLUSTERDOWN), slots are moving (TRYAGAIN),
    # a demoted primary still answers (READONLY), or the client's map has a hole for a while.
    for cluster_error in (ClusterError, TryAgainError, ReadOnlyError, SlotNotCoveredError):
        app.add_exception_handler(cluster_error, on_backend_down)
    app.add_exception_handler(OperationalError, on_backend_down)
    app.add_exception_handler(Exception, on_unexpected)
