"""Redirects point at the public base URL (FLASHSALE_PUBLIC_BASE_URL, core/settings.py base_url),
never at whatever the request's Host header named: Starlette builds a trailing-slash or directory
redirect from the Host header, so a forged one made this service send buyers elsewhere."""
from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def public_location(location: str, base_url: str) -> str:
    """An absolute `location` moved to the public base: its path and query kept, its scheme and
    host dropped (this service only ever redirects to itself). A path alone stays as it is."""
    parts = urlsplit(location)
    if not parts.netloc:
        return location
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    return base_url + path + (f"?{parts.query}" if parts.query else "")


class PublicRedirectsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_public(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                base_url: str = scope["app"].state.runtime.settings.base_url
                message["headers"] = [
                    (name, public_location(value.decode("latin-1"), base_url).encode("latin-1"))
                    if name.lower() == b"location" else (name, value)
                    for name, value in message.get("headers", [])]
            await send(message)

        await self.app(scope, receive, send_public)
