"""Every absolute URL the service makes comes from the public base URL (core/settings.py
base_url): redirects too, whatever the request's Host header says."""
from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.public_url import public_location
from tests.support import runtime_of


def test_public_location() -> None:
    base = "https://shop.example"
    assert public_location("http://evil.example/api/drops?x=1", base) == "https://shop.example/api/drops?x=1"
    assert public_location("/ops", base) == "/ops"
    assert public_location("//evil.example/ops", base) == "https://shop.example/ops"
    assert public_location("next", base) == "next"


@pytest.mark.parametrize("path", ["/api/drops/", "/login/", "/static", "/docs/", "/lang/en?next=/ops"])
async def test_redirects_ignore_the_host_header(app: FastAPI, client: httpx.AsyncClient, path: str) -> None:
    base = runtime_of(app).settings.base_url
    response = await client.get(path, headers={"Host": "evil.example"})
    assert 300 <= response.status_code < 400, response.status_code
    location = response.headers["location"]
    assert location.startswith(base + "/") or (location.startswith("/") and not location.startswith("//")), \
        location
    assert "evil" not in location
