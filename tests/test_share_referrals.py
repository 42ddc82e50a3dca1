"""Attribution: a visit's signed cookie or a purchase's `ref` credits the link; the buyer's own
purchases, revoked links and forged cookies credit nothing. Counted from SQL (the sink's rows)."""
from __future__ import annotations

import asyncio
import time
from http.cookies import SimpleCookie

import httpx
from fastapi import FastAPI

from sale.share.referral import ReferralSigner
from tests.support import Account, create_drop, eventually, make_account, make_accounts, runtime_of
from tests.support.share import (
    browser,
    buy,
    paid_order,
    path_of,
    pay,
    ref_token_in_sql,
    share_of,
    token_of,
)


async def referred(client: httpx.AsyncClient, owner: Account, order_id: str) -> int:
    return int((await share_of(client, owner, order_id))["referred_orders"])


async def settled(app: FastAPI, order_id: str) -> str | None:
    """The order's ref_token once the sink has written the row."""
    seen: list[str | None] = []

    async def written() -> bool:
        found, ref = await ref_token_in_sql(app, order_id)
        seen.append(ref)
        return found

    await eventually(written)
    return seen[-1]


async def test_a_visit_credits_a_later_purchase_from_the_browser(app: FastAPI,
                                                                  client: httpx.AsyncClient) -> None:
    operator, owner, friend = await make_account(app, "operator"), *await make_accounts(app, 2)
    drop = await create_drop(client, operator)
    order = await paid_order(client, owner, drop["id"])
    token = token_of(order["share_url"])
    async with browser(app) as friends_browser:
        page = await friends_browser.get(path_of(order["share_url"]))
        assert page.status_code == 200
        cookie = SimpleCookie()
        cookie.load(page.headers["set-cookie"])
        morsel = cookie["fs_ref"]
        assert morsel.value.startswith(token + ".")
        assert morsel["httponly"] and morsel["samesite"].lower() == "lax" and morsel["path"] == "/"
        assert morsel["max-age"] == str(7 * 24 * 3600)
        bought = await buy(friends_browser, friend, drop["id"])  # the browser sends its fs_ref cookie
        assert await settled(app, bought["id"]) == token
        assert await referred(client, owner, order["id"]) == 0  # reserved, not paid: no credit yet
        await pay(friends_browser, friend, bought["id"])

    async def credited() -> bool:
        return await referred(client, owner, order["id"]) == 1

    await eventually(credited)


async def test_ref_in_the_body_credits_the_link(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, owner = await make_account(app, "operator"), await make_account(app)
    friends = await make_accounts(app, 3)
    drop = await create_drop(client, operator)
    order = await paid_order(client, owner, drop["id"])
    token = token_of(order["share_url"])
    ids = [(await paid_order(client, friend, drop["id"], ref=token))["id"] for friend in friends]
    for order_id in ids:
        assert await settled(app, order_id) == token

    async def credited() -> bool:
        return await referred(client, owner, order["id"]) == 3

    await eventually(credited)


async def test_a_buyers_own_link_never_credits_itself(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, owner, friend = await make_account(app, "operator"), *await make_accounts(app, 2)
    first, second, third = [await create_drop(client, operator) for _ in range(3)]
    order = await paid_order(client, owner, first["id"])
    token = token_of(order["share_url"])
    own_ref = await paid_order(client, owner, second["id"], ref=token)  # "ref" of one's own link
    async with browser(app) as owners_browser:  # and through the cookie of one's own link
        assert (await owners_browser.get(path_of(order["share_url"]))).status_code == 200
        own_cookie = await paid_order(owners_browser, owner, third["id"])
    assert await settled(app, own_ref["id"]) == token
    assert await settled(app, own_cookie["id"]) == token
    friends = await paid_order(client, friend, first["id"], ref=token)  # the control: this one counts
    assert await settled(app, friends["id"]) == token

    async def one() -> bool:
        return await referred(client, owner, order["id"]) == 1

    await eventually(one)
    assert await referred(client, owner, order["id"]) == 1


async def test_a_revoked_link_credits_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, owner = await make_account(app, "operator"), await make_account(app)
    before, after, later = await make_accounts(app, 3)
    drop = await create_drop(client, operator)
    order = await paid_order(client, owner, drop["id"])
    old = token_of(order["share_url"])
    first = await paid_order(client, before, drop["id"], ref=old)
    assert await settled(app, first["id"]) == old

    async def one() -> bool:
        return await referred(client, owner, order["id"]) == 1

    await eventually(one)
    assert (await client.delete(f"/api/orders/{order['id']}/share", headers=owner.headers)).status_code == 204
    async with browser(app) as visitor:  # a revoked link sets no cookie either
        page = await visitor.get(path_of(order["share_url"]))
        assert page.status_code == 404 and "set-cookie" not in page.headers
    late = await paid_order(client, after, drop["id"], ref=old)  # the purchase itself goes through
    assert await settled(app, late["id"]) == old
    fresh = (await client.post(f"/api/orders/{order['id']}/share", headers=owner.headers)).json()
    assert fresh["referred_orders"] == 0 and fresh["views"] == 0
    newer = await paid_order(client, later, drop["id"], ref=token_of(fresh["url"]))
    assert await settled(app, newer["id"]) == token_of(fresh["url"])
    # Only the purchase through the live link counts (its paid state reaches SQL through the sink).
    await eventually(one)
    await asyncio.sleep(0.2)
    assert await referred(client, owner, order["id"]) == 1


async def test_forged_tampered_and_expired_cookies_are_ignored(app: FastAPI,
                                                               client: httpx.AsyncClient) -> None:
    operator, owner = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=20)
    order = await paid_order(client, owner, drop["id"])
    token = token_of(order["share_url"])
    settings = runtime_of(app).settings
    genuine = ReferralSigner(settings.app_secret).sign(token)
    other_token = "B" * 22
    forged = [
        "junk",
        token,                                                         # unsigned
        genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"),  # tampered MAC
        other_token + genuine[22:],                                    # another token, the same MAC
        genuine.replace(f".{genuine.split('.')[1]}.", f".{int(genuine.split('.')[1]) + 86400 * 30}."),
        ReferralSigner(b"some other secret entirely, 32+ chars").sign(token),
        ReferralSigner(settings.app_secret).sign(token, time.time() - 8 * 24 * 3600),  # past 7 days
        genuine + "." + genuine,
        "x" * 4000,
    ]
    buyers = await make_accounts(app, len(forged) + 1)
    for cookie_value, buyer in zip(forged, buyers, strict=False):
        async with browser(app) as visitor:
            visitor.cookies.set("fs_ref", cookie_value)
            bought = await buy(visitor, buyer, drop["id"])
        assert await settled(app, bought["id"]) is None, cookie_value
    async with browser(app) as visitor:  # the control: the genuine cookie credits
        visitor.cookies.set("fs_ref", genuine)
        bought = await buy(visitor, buyers[-1], drop["id"])
    assert await settled(app, bought["id"]) == token


async def test_first_referrer_wins_and_ref_beats_the_cookie(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, alice, bob = await make_account(app, "operator"), *await make_accounts(app, 2)
    visitor_account, other_account = await make_accounts(app, 2)
    drop = await create_drop(client, operator)
    a = await paid_order(client, alice, drop["id"])
    b = await paid_order(client, bob, drop["id"])
    a_token, b_token = token_of(a["share_url"]), token_of(b["share_url"])
    async with browser(app) as visitor:
        first = await visitor.get(path_of(a["share_url"]))
        assert "set-cookie" in first.headers
        second = await visitor.get(path_of(b["share_url"]))
        assert second.status_code == 200 and "set-cookie" not in second.headers  # A keeps the credit
        assert visitor.cookies["fs_ref"].startswith(a_token + ".")
        by_cookie = await buy(visitor, visitor_account, drop["id"])
        by_ref = await buy(visitor, other_account, drop["id"], ref=b_token)  # explicit ref wins
    assert await settled(app, by_cookie["id"]) == a_token
    assert await settled(app, by_ref["id"]) == b_token


async def test_crawlers_get_no_referral_cookie(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, owner = await make_account(app, "operator"), await make_account(app)
    order = await paid_order(client, owner, (await create_drop(client, operator))["id"])
    async with browser(app, "Twitterbot/1.0") as bot:
        page = await bot.get(path_of(order["share_url"]))
    assert page.status_code == 200 and "set-cookie" not in page.headers
