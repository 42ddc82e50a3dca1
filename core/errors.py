"""The domain error base class: an HTTP status plus a machine code, rendered as RFC 9457 problem
details by the one handler in app/errors.py. No web framework here, so every floor may raise them."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """Base of every error a client may see: an HTTP status plus a machine code."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Not allowed"


class RateLimited(DomainError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail or f"Try again in {retry_after} seconds",
                         headers={"Retry-After": str(max(1, retry_after))})


class ValidationFailed(DomainError):
    status, code, title = 422, "validation_error", "Invalid request"


class ServiceUnavailable(DomainError):
    """A back end is briefly unable to serve this (e.g. a drop rebuilt after a Redis failover)."""

    status, code, title = 503, "service_unavailable", "Service Unavailable"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail or "Briefly unavailable; retry.", headers={"Retry-After": str(max(1, retry_after))})
