"""Helpers of the share-link suites (no tests here): paid orders, browsers with their own cookie jar,
and an HTML parser that reads a page the way a link-preview crawler does."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import col, select

from sale.models import Order
from tests.support import Account, buy, pay, runtime_of

BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
              "Safari/537.36")


class PageParser(HTMLParser):
    """Meta tags (property= or name=), visible text, every attribute value, and the links."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.text: list[str] = []
        self.attributes: list[str] = []
        self.links: list[str] = []
        self.title = ""
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.attributes.extend(values.values())
        if tag == "meta" and "content" in values:
            key = values.get("property") or values.get("name")
            if key:
                self.meta[key] = values["content"]
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        if tag not in ("meta", "link", "img", "br", "input"):
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1] == "title":
            self.title += data
        elif (not self._stack or self._stack[-1] not in ("style", "script")) and data.strip():
            self.text.append(data.strip())

    @property
    def everything(self) -> str:
        return "\n".join([*self.text, *self.attributes, self.title])


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser


@asynccontextmanager
async def browser(app: FastAPI, user_agent: str = BROWSER_UA,
                  address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A visitor with its own cookie jar (the shared `client` fixture must never collect fs_ref)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30,
                                 headers={"User-Agent": user_agent}) as visitor:
        yield visitor




async def paid_order(http: httpx.AsyncClient, buyer: Account, drop_id: int, **body: Any) -> dict[str, Any]:
    return await pay(http, buyer, (await buy(http, buyer, drop_id, **body))["id"])


def token_of(share_url: str) -> str:
    assert share_url.startswith("http://testserver/s/"), share_url
    return share_url.removeprefix("http://testserver/s/")


def path_of(url: str) -> str:
    assert url.startswith("http://testserver/"), url
    return url.removeprefix("http://testserver")


async def share_of(http: httpx.AsyncClient, buyer: Account, order_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/orders/{order_id}/share", headers=buyer.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def ref_token_in_sql(app: FastAPI, order_id: str) -> tuple[bool, str | None]:
    """(whether the sink wrote the order yet, its ref_token)."""
    async with runtime_of(app).sessions() as session:
        row = (await session.execute(select(col(Order.ref_token)).where(Order.id == order_id))).first()
    return (row is not None, row[0] if row is not None else None)
