"""Page routes: thin HTML shells rendered from static templates; all data comes from the JSON API.

Pages never touch the database: a drop page gets its id from the path and hands it to the browser
in a data attribute. Every page response carries a strict Content-Security-Policy (no inline
scripts or styles), so all behaviour lives in /static/js and all styling in /static/css.
"""
from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from app.web.language import language_of, page_language
from app.web.language import router as language_router
from core import i18n

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
# Ids are opaque to clients; this only keeps junk out of the page (the API decides what exists).
_DROP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _asset_version(root: Path) -> str:
    """A short digest of every static file: a new deploy gets new asset URLs, so no stale JS."""
    digest = hashlib.sha256()
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


ASSET_VERSION = _asset_version(STATIC_DIR)

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals["asset_version"] = ASSET_VERSION
# The page's catalogue goes in as JSON data: readable CJK (smaller), still HTML-safe (<, >, & escaped).
_env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
templates = Jinja2Templates(env=_env)

router = APIRouter()
router.include_router(language_router)


# Stripe's Payment Element: its script, frames and API, allowed on the orders page only and only when
# Stripe is configured (https://docs.stripe.com/security/guide#content-security-policy).
STRIPE_CSP = (
    "default-src 'self'; img-src 'self' data: https://*.stripe.com; style-src 'self'; "
    "script-src 'self' https://js.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; "
    "connect-src 'self' https://api.stripe.com; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _page(request: Request, name: str, *, page: str, title: str, status_code: int = 200,
          **context: Any) -> Response:
    """`title` is a catalogue key; the page speaks the language the request negotiates."""
    lang = language_of(request)
    context.update(page=page, title=title, noindex=page in ("ops", "fcodes", "orders", "login"),
                   **page_language(lang, request.url.path, request.url.query))
    headers = {**PAGE_HEADERS, "Content-Language": i18n.TAGS[lang], "Vary": "Accept-Language, Cookie"}
    if page == "orders" and request.app.state.runtime.settings.stripe_secret_key:
        headers["Content-Security-Policy"] = STRIPE_CSP
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=headers)


def not_found_page(request: Request) -> Response:
    """The HTML 404 for a browser that asked for a page (the API keeps its problem+json)."""
    return _page(request, "not_found.html", page="not_found", title="notfound.title", status_code=404)


@router.get("/", include_in_schema=False)
async def storefront(request: Request) -> Response:
    return _page(request, "storefront.html", page="storefront", title="store.title")


@router.get("/drops/{drop_id}", include_in_schema=False)
async def drop_page(request: Request, drop_id: str) -> Response:
    if not _DROP_ID.fullmatch(drop_id):
        return not_found_page(request)
    return _page(request, "drop.html", page="drop", title="drop.title", drop_id=drop_id)


@router.get("/login", include_in_schema=False)
async def login_page(request: Request) -> Response:
    return _page(request, "login.html", page="login", title="login.title")


@router.get("/orders", include_in_schema=False)
async def orders_page(request: Request) -> Response:
    return _page(request, "orders.html", page="orders", title="orders.title")


@router.get("/fcodes", include_in_schema=False)
async def fcodes_page(request: Request) -> Response:
    return _page(request, "fcodes.html", page="fcodes", title="fcodes.title")


@router.get("/ops", include_in_schema=False)
async def ops_page(request: Request) -> Response:
    return _page(request, "ops.html", page="ops", title="ops.title",
                 store_currency=request.app.state.runtime.settings.currency)


@router.get("/ops/audit", include_in_schema=False)
async def audit_page(request: Request) -> Response:
    return _page(request, "ops_audit.html", page="ops", title="audit.title")


@router.get("/ops/report/{drop_id}", include_in_schema=False)
async def report_page(request: Request, drop_id: str) -> Response:
    if not _DROP_ID.fullmatch(drop_id):
        return not_found_page(request)
    return _page(request, "ops_report.html", page="ops", title="report.title", drop_id=drop_id)


@router.get("/clock", include_in_schema=False)
async def clock() -> Response:
    """The server's time in milliseconds, for the pages' countdowns and the buy button's opening second.

    The `Date` header alone can't do it: it has one-second resolution, and uvicorn refreshes it only
    once a second, so it may be a second stale as well."""
    return JSONResponse({"now_ms": round(time.time() * 1000, 1)}, headers={"Cache-Control": "no-store"})


class _VersionedStaticFiles(StaticFiles):
    """Assets requested with the current `?v=` are immutable; anything else is revalidated."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        query = scope.get("query_string", b"").decode("latin-1")
        if response.status_code == 200 and f"v={ASSET_VERSION}" in query.split("&"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers.setdefault("Cache-Control", "no-cache")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount_static(app: FastAPI) -> None:
    """Serve app/web/static at /static (CSS, JS, icons)."""
    app.mount("/static", _VersionedStaticFiles(directory=STATIC_DIR), name="static")
