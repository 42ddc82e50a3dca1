"""The share page and card as a social crawler and a browser see them; the buyer's share API."""
from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from PIL import Image, ImageDraw

from accounts.models import User
from sale.share.card import render_card
from sale.share.cards import ShareCards
from tests.support import create_drop, eventually, is_problem, iso, make_account, now, runtime_of, services_of
from tests.support.share import browser, buy, paid_order, parse, path_of, share_of, token_of

PRICE = 731957  # distinctive: it must appear nowhere on the page or the card


def share_cards(app: FastAPI) -> ShareCards:
    return services_of(app).share_cards


def price_forms(cents: int) -> list[str]:
    return [str(cents), f"{cents / 100:.2f}", f"{cents / 100:,.2f}", str(cents // 100)]


async def test_paid_order_unfurls_for_a_social_crawler(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, name="Mi Phone 15 Ultra", price_cents=PRICE)
    order = await paid_order(client, buyer, drop["id"])
    share_url = order["share_url"]
    token = token_of(share_url)
    assert len(token) >= 22 and order["id"] not in token and str(buyer.id) != token

    facebook = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
    async with browser(app, facebook) as bot:
        page = await bot.get(path_of(share_url))
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "no-cache" in page.headers["cache-control"]
        tags = parse(page.text)
        meta = tags.meta
        assert meta["og:type"] == "website"
        assert meta["og:url"] == share_url
        assert "Mi Phone 15 Ultra" in meta["og:title"] and "Mi Phone 15 Ultra" in meta["og:description"]
        assert re.search(r"in \d+(\.\d)? seconds", meta["og:title"]), meta["og:title"]
        assert meta["og:image"].startswith(f"{share_url}/card.png")
        assert (meta["og:image:width"], meta["og:image:height"]) == ("1200", "630")
        assert meta["twitter:card"] == "summary_large_image"
        assert meta["twitter:image"] == meta["og:image"]
        assert f"http://testserver/drops/{drop['id']}" in tags.links  # the drop is open: "get yours" there

        card = await bot.get(path_of(meta["og:image"]))
        assert card.status_code == 200 and card.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(card.content))
        assert image.format == "PNG" and image.size == (1200, 630)
        assert card.headers["cache-control"] == "public, max-age=31536000, immutable"
        etag = card.headers["etag"]
        again = await bot.get(path_of(meta["og:image"]), headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert (await bot.head(path_of(share_url))).status_code == 200  # some unfurlers ask HEAD first
        assert (await bot.head(path_of(meta["og:image"]))).headers["content-type"] == "image/png"
        unversioned = await bot.get(f"/s/{token}/card.png")  # the path the orders page uses
        assert unversioned.status_code == 200 and unversioned.content == card.content
        assert "immutable" not in unversioned.headers["cache-control"]

    # The page says how fast the buyer was: a few seconds after the drop opened (it opened 5 s before).
    speed = re.search(r"Got one in ([\d.]+) seconds", " ".join(tags.text))
    assert speed is not None and 4 <= float(speed.group(1)) < 60


async def test_no_email_order_id_or_price_on_page_or_card(app: FastAPI, client: httpx.AsyncClient,
                                                          monkeypatch: object) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, name="Redmi Watch", price_cents=PRICE)
    order = await paid_order(client, buyer, drop["id"])
    secrets_ = [buyer.email, buyer.email.split("@")[0], order["id"], *price_forms(PRICE)]
    async with browser(app) as visitor:
        page = await visitor.get(path_of(order["share_url"]))
    assert page.status_code == 200
    everything = parse(page.text).everything
    for secret in secrets_:
        assert secret not in everything and secret not in page.text, secret

    # The card: record every string Pillow is asked to draw.
    drawn: list[str] = []
    original = ImageDraw.ImageDraw.text

    def recording_text(self: ImageDraw.ImageDraw, xy: object, text: str, *args: object,
                       **kwargs: object) -> None:
        drawn.append(text)
        original(self, xy, text, *args, **kwargs)  # type: ignore[arg-type]

    cards = share_cards(app)
    facts = await cards.facts.find(token_of(order["share_url"]))
    assert facts is not None
    text = cards.text(facts)
    setattr(ImageDraw.ImageDraw, "text", recording_text)  # noqa: B010
    try:
        png = render_card(text)
    finally:
        setattr(ImageDraw.ImageDraw, "text", original)  # noqa: B010
    assert Image.open(io.BytesIO(png)).size == (1200, 630)
    assert "Redmi Watch" in drawn and "FLASHSALE" in drawn and any(s.startswith("Got one in") for s in drawn)
    assert set(text.lines()) >= set(drawn) - {""}
    for secret in secrets_:
        assert all(secret not in s for s in drawn), secret


async def test_display_name_only_when_the_buyer_opts_in(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    marker = uuid.uuid4().hex[:10]
    name = f"Ada <b>{marker}</b>"
    async with runtime_of(app).sessions() as session, session.begin():
        user = await session.get(User, buyer.id)
        assert user is not None
        user.display_name = name
    drop = await create_drop(client, operator)
    order = await paid_order(client, buyer, drop["id"])
    path = path_of(order["share_url"])
    async with browser(app) as visitor:
        hidden = await visitor.get(path)
        assert marker not in hidden.text
        shown = await client.patch(f"/api/orders/{order['id']}/share", json={"show_name": True},
                                   headers=buyer.headers)
        assert shown.status_code == 200 and shown.json()["show_name"] is True
        page = await visitor.get(path)
        tags = parse(page.text)
        assert f"{name} got the" in tags.meta["og:title"]  # the parser unescapes: the literal name
        assert "<b>" not in page.text and "&lt;b&gt;" in page.text  # escaped in the HTML
        assert buyer.email not in page.text
        assert tags.meta["og:image"] != parse(hidden.text).meta["og:image"]  # a new card version
        card = await visitor.get(path_of(tags.meta["og:image"]))
        assert card.status_code == 200 and Image.open(io.BytesIO(card.content)).size == (1200, 630)
    assert (await client.patch(f"/api/orders/{order['id']}/share", json={"show_name": "yes please"},
                               headers=buyer.headers)).status_code == 422


async def test_html_in_product_name_is_escaped_on_page_and_drawn_as_text(app: FastAPI,
                                                                         client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    drop = await create_drop(client, operator, name=evil)
    order = await paid_order(client, buyer, drop["id"])
    async with browser(app) as visitor:
        page = await visitor.get(path_of(order["share_url"]))
        assert page.status_code == 200
        assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        tags = parse(page.text)
        assert evil in tags.text and evil in tags.meta["og:title"]
        assert "script-src" not in page.headers["content-security-policy"]  # no script may run at all
        card = await visitor.get(path_of(tags.meta["og:image"]))
    assert card.status_code == 200 and Image.open(io.BytesIO(card.content)).size == (1200, 630)
    cards = share_cards(app)
    facts = await cards.facts.find(token_of(order["share_url"]))
    assert facts is not None and cards.text(facts).product == evil


async def test_bad_tokens_get_the_404_page(app: FastAPI, client: httpx.AsyncClient) -> None:
    async with browser(app) as visitor:
        for token in ("A" * 22, "short", "x" * 5000, "%3Cscript%3E", "..%2F..%2Fetc%2Fpasswd", "A" * 21 + "!",
                      "'; DROP TABLE share_links; --"):
            page = await visitor.get(f"/s/{token}")
            assert page.status_code == 404, token
            assert page.headers["content-type"].startswith("text/html")
            assert "Traceback" not in page.text and "fs_ref" not in page.headers.get("set-cookie", "")
            assert "doesn't exist" in " ".join(parse(page.text).text)
            card = await visitor.get(f"/s/{token}/card.png")
            assert card.status_code == 404 and card.headers["content-type"].startswith("text/html")


async def test_revoke_then_make_a_new_link(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator)
    order = await paid_order(client, buyer, drop["id"])
    old = order["share_url"]
    share = await share_of(client, buyer, order["id"])
    assert share["url"] == old and share["card_url"].startswith(old + "/card.png")
    assert share["text"] and old not in share["text"] and str(PRICE) not in share["text"]
    assert {"views", "crawler_views", "referred_orders"} <= set(share)

    assert (await client.delete(f"/api/orders/{order['id']}/share", headers=buyer.headers)).status_code == 204
    assert (await client.delete(f"/api/orders/{order['id']}/share", headers=buyer.headers)).status_code == 204
    async with browser(app) as visitor:
        assert (await visitor.get(path_of(old))).status_code == 404
        assert (await visitor.get(path_of(share["card_url"]))).status_code == 404
    assert is_problem(await client.get(f"/api/orders/{order['id']}/share", headers=buyer.headers), 404,
                      "share_link_not_found")
    got = await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)
    assert got.json()["share_url"] is None

    made = await client.post(f"/api/orders/{order['id']}/share", headers=buyer.headers)
    assert made.status_code == 201
    new = made.json()["url"]
    assert new != old and new.startswith("http://testserver/s/")
    assert (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()["share_url"] == new

    async def listed_with_new_url() -> bool:  # the list comes from SQL, which the sink fills within ms
        listed = (await client.get("/api/orders", headers=buyer.headers)).json()
        return [o["share_url"] for o in listed if o["id"] == order["id"]] == [new]

    await eventually(listed_with_new_url)
    async with browser(app) as visitor:
        assert (await visitor.get(path_of(new))).status_code == 200
        assert (await visitor.get(path_of(old))).status_code == 404


async def test_only_the_buyer_manages_the_link(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyer, other = await make_account(app), await make_account(app)
    drop = await create_drop(client, operator)
    order = await paid_order(client, buyer, drop["id"])
    base = f"/api/orders/{order['id']}/share"
    for who in (other, operator):
        assert is_problem(await client.get(base, headers=who.headers), 404, "order_not_found")
        assert is_problem(await client.post(base, headers=who.headers), 404, "order_not_found")
        assert is_problem(await client.patch(base, json={"show_name": True}, headers=who.headers), 404,
                          "order_not_found")
        assert is_problem(await client.delete(base, headers=who.headers), 404, "order_not_found")
    assert is_problem(await client.get(base), 401)
    for junk in ("nope", "999999-abc", "1-" + "x" * 100):
        assert is_problem(await client.get(f"/api/orders/{junk}/share", headers=buyer.headers), 404,
                          "order_not_found")
    reserved = await buy(client, other, drop["id"])
    assert reserved["share_url"] is None
    assert is_problem(await client.get(f"/api/orders/{reserved['id']}/share", headers=other.headers), 409,
                      "order_not_paid")
    async with browser(app) as visitor:  # the link still works after all that
        assert (await visitor.get(path_of(order["share_url"]))).status_code == 200


async def test_get_yours_points_at_the_next_drop_when_this_one_is_sold_out(app: FastAPI,
                                                                           client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    sku = f"sku-{uuid.uuid4().hex[:8]}"
    drop = await create_drop(client, operator, sku=sku, stock=1)
    order = await paid_order(client, buyer, drop["id"])
    later = now() + timedelta(days=7)
    following = await create_drop(client, operator, sku=sku, starts_at=iso(later),
                                  ends_at=iso(later + timedelta(hours=1)))
    async with browser(app) as visitor:
        tags = parse((await visitor.get(path_of(order["share_url"]))).text)
    assert f"http://testserver/drops/{following['id']}" in tags.links
    assert f"http://testserver/drops/{drop['id']}" not in tags.links
    assert all(link.startswith("http://testserver/") for link in tags.links)  # never anywhere else
