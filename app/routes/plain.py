"""Plain routes: documented in OpenAPI like any FastAPI route, served as plain Starlette endpoints.

The hot paths (the purchase, the drop list and page every waiting buyer polls, the payment) take the
Request and make the Response themselves: no dependency solving and no response-model validation per
call, which under a rush were a large share of each worker's CPU. The endpoint parses what it needs
(path values, the bearer token, the body) and makes one service call.
"""
from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.routing import request_response

JSON = "application/json"
Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]
Model = TypeVar("Model", bound=BaseModel)


class PlainRoute(APIRoute):
    """A route documented like any FastAPI route whose endpoint takes the Request and makes the
    Response itself: served as plain Starlette (no dependency solving, no response validation)."""

    def __init__(self, path: str, endpoint: Endpoint, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.app = request_response(endpoint)

    def get_route_handler(self) -> Endpoint:
        endpoint: Endpoint = self.endpoint
        return endpoint


def path_parameter(name: str, description: str = "") -> dict[str, Any]:
    """A string path parameter as OpenAPI describes it (the endpoint parses it itself)."""
    parameter: dict[str, Any] = {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
    if description:
        parameter["description"] = description
    return parameter


def json_body(model: type[Model], raw: bytes) -> Model:
    """The request body validated as `model`; a bad one is the same 422 problem FastAPI answers."""
    if not raw.strip():
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required",
                                       "input": None}])
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]) from None


def json_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"content": {JSON: {"schema": model.model_json_schema()}}, "required": True}
