"""/docs and /redoc use this service's own copy of Swagger UI and Redoc (no CDN), with no inline
script, under a Content-Security-Policy that runs scripts from this origin only."""
from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from app.docs import ASSET_SHA256, ASSETS_DIR


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_nothing_from_elsewhere(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "default-src 'none'" in csp and "http" not in csp
    html = response.text
    assert "cdn" not in html.lower() and "https://" not in html and "http://" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"


def test_the_served_bundles_are_the_recorded_ones() -> None:
    for name, digest in ASSET_SHA256.items():
        assert hashlib.sha256((ASSETS_DIR / name).read_bytes()).hexdigest() == digest, name


async def test_the_openapi_document_is_still_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "flashsale"
