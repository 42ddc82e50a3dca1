"""The one place that renders RFC 9457 problem details (the error classes live in core/errors.py)."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from redis.exceptions import ClusterError, ReadOnlyError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.web.router import not_found_page
from core.db import DATABASE_DOWN
from core.errors import DomainError, ServiceUnavailable

log = logging.getLogger("flashsale.errors")
PROBLEM_TYPE = "https://flashsale.dev/problems/"
BACKEND_RETRY_AFTER_SECONDS = 1


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


def _contract_code(status: int) -> tuple[int, str]:
    """(status, code) for an HTTP error raised by the framework: always a code of the contract. A
    body the framework could not parse (its 400) is bad input like any other: 422."""
    if status in _HTTP_CODES:
        return status, _HTTP_CODES[status]
    if status == 400 or 400 <= status < 500:
        return 422, "validation_error"
    return (503, "service_unavailable") if status == 503 else (500, "internal_error")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    path = request.url.path
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


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
        status, code = _contract_code(exc.status_code)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return problem_response(status, code, detail, headers=headers)

    async def on_backend_down(request: Request, exc: Exception) -> Response:
        log.warning("back end unavailable on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__,
                    str(exc)[:200])
        return domain_problem(ServiceUnavailable(retry_after=BACKEND_RETRY_AFTER_SECONDS))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        # Logged with the route only: bodies and headers may carry secrets or personal data.
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "internal_error", "Something went wrong on our side; it was logged.")

    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RedisConnectionError, on_backend_down)  # BusyLoadingError too (a restart)
    app.add_exception_handler(RedisTimeoutError, on_backend_down)
    for down in DATABASE_DOWN:
        app.add_exception_handler(down, on_backend_down)
    # A Redis Cluster failing over: a primary is down (CLUSTERDOWN), slots are moving (TRYAGAIN),
    # a demoted primary still answers (READONLY), or the client's map has a hole for a while.
    for cluster_error in (ClusterError, TryAgainError, ReadOnlyError, SlotNotCoveredError):
        app.add_exception_handler(cluster_error, on_backend_down)
    app.add_exception_handler(Exception, on_unexpected)
