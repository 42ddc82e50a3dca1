"""The OpenAPI side of problem details: one shared `Problem` schema whose `code` is an enum of every
machine code the service answers, and `problems(...)` for a route's `responses=`, so the document
lists each problem answer a route gives (status, `application/problem+json`, the codes)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import accounts.addresses.exceptions
import accounts.exceptions
import codes.exceptions
import core.token_versions
import messages.exceptions
import sale.draw.exceptions
import sale.exceptions
import sale.images.exceptions
import sale.queue.exceptions
import sale.share.exceptions
import sale.waitlist.exceptions
from core.errors import DomainError

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
# Answers given outside any domain error: by the handlers in app/errors.py and the middlewares.
GENERIC_CODES: dict[str, int] = {
    "validation_error": 422, "unauthorized": 401, "forbidden": 403, "not_found": 404,
    "method_not_allowed": 405, "payload_too_large": 413, "unsupported_media_type": 415,
    "rate_limited": 429, "internal_error": 500, "service_unavailable": 503,
}
_DOMAIN_MODULES = (accounts.exceptions, accounts.addresses.exceptions, codes.exceptions, core.token_versions,
                   messages.exceptions, sale.exceptions, sale.images.exceptions, sale.queue.exceptions,
                   sale.share.exceptions, sale.draw.exceptions, sale.waitlist.exceptions)


def _subclasses(cls: type[DomainError]) -> Iterator[type[DomainError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _all_codes() -> dict[str, int]:
    assert _DOMAIN_MODULES  # imported for their classes
    found = dict(GENERIC_CODES)
    for cls in _subclasses(DomainError):
        found.setdefault(cls.code, cls.status)
    return found


CODE_STATUS = _all_codes()
# Every operation may meet these: a malformed request, a back end briefly down, a bug.
ALWAYS = ("service_unavailable", "internal_error")
WITH_BODY = ("payload_too_large",)


def problem_schema() -> dict[str, Any]:
    return {
        "title": "Problem",
        "description": "RFC 9457 problem details; `code` is the machine code a client switches on.",
        "type": "object",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string", "enum": sorted(CODE_STATUS)},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    }


def problem_response(codes: list[str]) -> dict[str, Any]:
    return {
        "description": "Problem: " + ", ".join(f"`{code}`" for code in codes),
        "content": {PROBLEM_JSON: {"schema": {
            "allOf": [{"$ref": PROBLEM_REF}],
            "properties": {"code": {"type": "string", "enum": codes}},
        }}},
    }


def problems(*codes: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: its problem answers grouped by status."""
    by_status: dict[int, list[str]] = defaultdict(list)
    for code in codes:
        by_status[CODE_STATUS[code]].append(code)
    return {status: problem_response(sorted(found)) for status, found in by_status.items()}


def _merge(responses: dict[str, Any], codes: list[str]) -> None:
    """Adds problem answers with these codes, keeping whatever a status documents already."""
    for code in codes:
        status = str(CODE_STATUS[code])
        entry = responses.setdefault(status, {"description": HTTPStatus(int(status)).phrase})
        content = entry.setdefault("content", {})
        known = content.get(PROBLEM_JSON, {}).get("schema", {}).get("properties", {}).get("code", {}).get("enum", [])
        if code not in known:
            content[PROBLEM_JSON] = problem_response(sorted({*known, code}))["content"][PROBLEM_JSON]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Adds the Problem schema and the answers every operation may give: FastAPI's own 422 entry
    (a JSON `HTTPValidationError`, which this service never sends) becomes a problem."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = problem_schema()
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in ("get", "put", "post", "delete", "patch", "head", "options"):
                continue
            responses = operation.setdefault("responses", {})
            extra = list(ALWAYS)
            validation = responses.pop("422", None)
            if validation is not None and PROBLEM_JSON not in validation.get("content", {}):
                extra.append("validation_error")
            elif validation is not None:
                responses["422"] = validation
            if operation.get("parameters") or "requestBody" in operation:
                extra.append("validation_error")
            if "requestBody" in operation:
                extra.extend(WITH_BODY)
            _merge(responses, extra)
    return document
