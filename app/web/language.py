"""The buyer's language on pages: negotiated per request (remembered choice, then Accept-Language),
switched with plain links (no script needed) that set a cookie and come back to the same page."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from core import i18n

router = APIRouter()
COOKIE_MAX_AGE = 365 * 24 * 3600
# Only a path on this site: never `//host` or a scheme, so the switch can't redirect elsewhere.
_LOCAL_PATH = re.compile(r"^/(?![/\\])\S*$")


def language_of(request: Request) -> str:
    return i18n.negotiate(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))


def page_language(lang: str, path: str, query: str) -> dict[str, Any]:
    """What base.html needs: the translator, the <html lang>, the switch's links, the JS catalogue."""
    here = path + (f"?{query}" if query else "")
    return {
        "t": i18n.translator(lang),
        "lang": lang,
        "lang_tag": i18n.TAGS[lang],
        "messages": i18n.catalogue(lang),
        "languages": [{"code": code, "tag": i18n.TAGS[code], "name": i18n.NATIVE_NAMES[code],
                       "switch": f"/lang/{code}?next={quote(here, safe='/')}"}
                      for code in i18n.LANGUAGES],
    }


@router.get("/lang/{code}", include_in_schema=False)
async def switch_language(request: Request, code: str, next: str = "/") -> Response:
    lang = i18n.supported(code) or i18n.DEFAULT
    target = next if _LOCAL_PATH.match(next) else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(i18n.COOKIE, lang, max_age=COOKIE_MAX_AGE, path="/", samesite="lax", httponly=True,
                        secure=request.app.state.runtime.settings.base_url.startswith("https://"))
    return response
