"""/docs (Swagger UI) and /redoc, from this service's own copy of their files.

FastAPI's default pages load their scripts from a CDN, with no integrity check, on the origin
where "keep me signed in" tokens live in localStorage. Here the bundles come from the pinned
`fastapi-offline` package (Swagger UI 5 and Redoc 2, recorded below by hash and checked by
tests/test_docs.py), the pages carry no inline script, and a Content-Security-Policy lets them run
scripts from this origin only.
"""
from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.web.router import ASSET_VERSION

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_PATH = "/docs-assets"
# sha256 of the files this service serves (fastapi-offline 1.7.7); a new version is a reviewed change.
ASSET_SHA256 = {
    "swagger-ui-bundle.js": "4b5a9b35a1adf37f00d39c0bae23cdb37007e2946240ef035137cc85b4d55349",
    "swagger-ui.css": "ca238f7d7c2cf4480c1e77a9c3b9da915ab216e96ffd354e69076560c650c6de",
    "redoc.standalone.js": "1320f442151c57c447d3b70c7ffc6c4f86d08464020fe34c8cc5d3164e9944f0",
    "favicon.png": "d16f72cf5a2773eba499cc7f3db1923c6f5f73de990f739e3a05806aafec15b7",
}
# Both renderers set styles from script (inline style attributes) and Redoc searches in a blob:
# worker; scripts, data and everything else come from this origin only.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'none'")
DOCS_HEADERS = {"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff",
                "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin", "Cache-Control": "no-cache"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{assets}/favicon.png">{head}</head>
<body>{body}</body></html>
"""


def _swagger(title: str, openapi_url: str) -> str:
    return _PAGE.format(
        title=f"{title} - Swagger UI", assets=ASSETS_PATH,
        head=f'<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">',
        body=(f'<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>'
              f'<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>'
              f'<script src="/static/js/docs-swagger.js?v={ASSET_VERSION}"></script>'))


def _redoc(title: str, openapi_url: str) -> str:
    return _PAGE.format(title=f"{title} - ReDoc", assets=ASSETS_PATH, head="",
                        body=(f'<redoc spec-url="{openapi_url}"></redoc>'
                              f'<script src="{ASSETS_PATH}/redoc.standalone.js"></script>'))


class _DocsAssets(StaticFiles):
    async def get_response(self, path: str, scope: dict) -> Response:  # type: ignore[override,type-arg]
        response = await super().get_response(path, scope)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "public, max-age=86400")
        return response


def install_docs(app: FastAPI) -> None:
    """The app must be made with docs_url=None and redoc_url=None (FastAPI's CDN pages)."""
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger(_: Request) -> Response:
        return HTMLResponse(_swagger(app.title, openapi_url), headers=DOCS_HEADERS)

    async def redoc(_: Request) -> Response:
        return HTMLResponse(_redoc(app.title, openapi_url), headers=DOCS_HEADERS)

    app.add_route("/docs", swagger, methods=["GET"], include_in_schema=False)
    app.add_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS_PATH, _DocsAssets(directory=ASSETS_DIR), name="docs-assets")
