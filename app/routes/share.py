"""Share links: the public page and card, and the buyer's API. Thin: deps in, one service call, out."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import jinja2
from fastapi import APIRouter, Depends, Header, Request
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import HTMLResponse, Response

from app.deps import ClientAddress, CurrentUser, RuntimeDep, ShareCardsDep, ShareDep, SharePageDep, get_session
from app.problems import problems
from app.web.language import language_of
from core import i18n
from core.runtime import Runtime
from sale.share.referral import COOKIE_MAX_AGE, COOKIE_NAME
from sale.share.schemas import ShareOut, ShareUpdate

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates" / "share"
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined)
_CSS = (TEMPLATES / "share.css").read_text(encoding="utf-8").strip()
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
CARD_FOREVER = "public, max-age=31536000, immutable"  # a versioned card URL never changes content
CARD_BRIEFLY = "public, max-age=3600"                 # an unversioned one may (the buyer's name opt-in)

# The transaction commits before the answer leaves (FastAPI's default scope commits after it): a client
# that revokes a link and opens it at once must see it gone.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]

router = APIRouter()


def _page_headers(runtime: Runtime) -> dict[str, str]:
    base = urlsplit(runtime.settings.base_url)
    return {
        "Content-Security-Policy": (f"default-src 'none'; img-src 'self' {base.scheme}://{base.netloc}; "
                                    f"style-src 'sha256-{_CSS_HASH}'; base-uri 'none'; form-action 'none'; "
                                    "frame-ancestors 'none'"),
        "Referrer-Policy": "no-referrer",  # the token must not travel on to the pages this one links to
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # Not cached by shared caches: each visit counts and may set the cookie; a revoke acts at once.
        "Cache-Control": "private, no-cache",
    }


def _html(runtime: Runtime, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    body = _env.get_template(name).render(css=Markup(_CSS), store=runtime.settings.store_name, **context)  # noqa: S704
    return HTMLResponse(body, status_code=status, headers=_page_headers(runtime))


def _language(request: Request, lang: str | None) -> str:
    """`?lang=` (the card URL a page hands out keeps the page's language), else the visitor's."""
    return i18n.supported(lang) or language_of(request)


def _not_found(runtime: Runtime, lang: str) -> HTMLResponse:
    tr = i18n.translator(lang)
    return _html(runtime, "not_found.html", {"home": f"{runtime.settings.base_url}/", "t": tr,
                                             "lang_tag": tr.tag}, 404)


@router.api_route("/s/{token}", methods=["GET", "HEAD"], include_in_schema=False)
async def share_page(token: str, request: Request, runtime: RuntimeDep, page: SharePageDep, client: ClientAddress,
                     lang: str | None = None) -> Response:
    language = _language(request, lang)
    visit = await page.visit(token, client, request.headers.get("user-agent", ""), request.cookies.get(COOKIE_NAME),
                             language)
    if visit is None:
        return _not_found(runtime, language)
    response = _html(runtime, "page.html", visit.page)
    response.headers["Content-Language"] = i18n.TAGS[language]
    if visit.cookie is not None:
        response.set_cookie(COOKIE_NAME, visit.cookie, max_age=COOKIE_MAX_AGE, path="/", httponly=True,
                            samesite="lax", secure=runtime.settings.base_url.startswith("https://"))
    return response


@router.api_route("/s/{token}/card.png", methods=["GET", "HEAD"], include_in_schema=False)
async def share_card(token: str, request: Request, runtime: RuntimeDep, cards: ShareCardsDep,
                     v: str | None = None, lang: str | None = None,
                     if_none_match: Annotated[str | None, Header()] = None) -> Response:
    language = _language(request, lang)
    card = await cards.card(token, v, if_none_match, language)
    if card is None:
        return _not_found(runtime, language)
    headers = {"ETag": card.etag, "Cache-Control": CARD_FOREVER if card.current else CARD_BRIEFLY,
               "X-Content-Type-Options": "nosniff"}
    if card.png is None:
        return Response(status_code=304, headers=headers)
    return Response(card.png, media_type="image/png", headers=headers)


@router.api_route("/s/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def share_other(rest: str, request: Request, runtime: RuntimeDep) -> Response:
    """Anything else under /s/ is a link that does not exist: the same page, never an error body."""
    return _not_found(runtime, language_of(request))


@router.get("/api/orders/{order_id}/share", response_model=ShareOut, tags=["share"],
            responses=problems("unauthorized", "order_not_found", "order_not_paid", "share_link_not_found"))
async def get_share(order_id: str, claims: CurrentUser, session: Session, share: ShareDep) -> ShareOut:
    return await share.share_of(session, claims, order_id)


@router.post("/api/orders/{order_id}/share", status_code=201, response_model=ShareOut, tags=["share"],
             responses=problems("unauthorized", "order_not_found", "order_not_paid", "share_link_not_found"))
async def new_share(order_id: str, claims: CurrentUser, session: Session, share: ShareDep) -> ShareOut:
    """A fresh link for the order: any earlier link of it is dead from now on."""
    return await share.new_link(session, claims, order_id)


@router.patch("/api/orders/{order_id}/share", response_model=ShareOut, tags=["share"],
              responses=problems("unauthorized", "order_not_found", "order_not_paid", "share_link_not_found"))
async def update_share(order_id: str, body: ShareUpdate, claims: CurrentUser, session: Session,
                       share: ShareDep) -> ShareOut:
    """`show_name`: whether the page and card show the buyer's display name (off unless chosen)."""
    return await share.update(session, claims, order_id, body)


@router.delete("/api/orders/{order_id}/share", status_code=204, tags=["share"],
               responses=problems("unauthorized", "order_not_found", "order_not_paid", "share_link_not_found"))
async def revoke_share(order_id: str, claims: CurrentUser, session: Session, share: ShareDep) -> Response:
    await share.revoke(session, claims, order_id)
    return Response(status_code=204)
