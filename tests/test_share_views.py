"""Views: at most one per visitor (client address, an IPv6 one by its /64) per link per hour, under
concurrency; a script changing its User-Agent counts no more; link previews by social crawlers
counted apart."""
from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from core.clock import utcnow
from core.settings import Settings
from sale.repository import DropRepository
from sale.share.referral import token_hash
from tests.conftest import make_settings
from tests.support import Account, create_drop, delete_prefix, make_account, runtime_of, services_of
from tests.support.share import BROWSER_UA, browser, paid_order, path_of, share_of, token_of

pytestmark = pytest.mark.cluster  # cleans a second app's keys on every primary (delete_prefix)

CRAWLERS = (
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "WhatsApp/2.23.20.0",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
)


async def counts(client: httpx.AsyncClient, owner: Account, order_id: str) -> tuple[int, int]:
    share = await share_of(client, owner, order_id)
    return share["views"], share["crawler_views"]


async def test_one_view_per_visitor_per_hour_concurrently(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, owner = await make_account(app, "operator"), await make_account(app)
    order = await paid_order(client, owner, (await create_drop(client, operator))["id"])
    path = path_of(order["share_url"])
    assert await counts(client, owner, order["id"]) == (0, 0)

    async with browser(app) as visitor:  # one visitor, reloading like mad
        pages = await asyncio.gather(*(visitor.get(path) for _ in range(40)))
        assert all(p.status_code == 200 for p in pages)
        assert (await visitor.get(path)).status_code == 200
    assert await counts(client, owner, order["id"]) == (1, 0)

    async def visit(i: int) -> int:
        agent, address = (f"{BROWSER_UA} visitor/{i}", f"10.1.0.{i}") if i % 2 else (BROWSER_UA, f"10.1.0.{i}")
        async with browser(app, agent, address) as someone:
            first, again = await asyncio.gather(someone.get(path), someone.get(path))
            return first.status_code + again.status_code

    assert set(await asyncio.gather(*(visit(i) for i in range(1, 31)))) == {400}
    assert await counts(client, owner, order["id"]) == (31, 0)

    async def rotating(i: int, address: str) -> int:  # a script: new User-Agent, no cookies, each time
        async with browser(app, f"Mozilla/5.0 (rotated {i}) Chrome/{100 + i}.0", address) as script:
            return (await script.get(path)).status_code

    assert set(await asyncio.gather(*(rotating(i, "127.0.0.1") for i in range(30)))) == {200}
    v6 = [f"2001:db8:0:7::{i:x}" for i in range(1, 31)]  # one subscriber's /64
    assert set(await asyncio.gather(*(rotating(i, address) for i, address in enumerate(v6)))) == {200}
    assert await counts(client, owner, order["id"]) == (32, 0)  # the first /64 visit counts once

    runtime = runtime_of(app)
    seen = runtime.keys.share_seen(token_hash(token_of(order["share_url"])), "*")
    keys = [key async for key in runtime.redis.scan_iter(match=seen, count=1000)]
    assert len(keys) == 32
    ttl = await runtime.redis.ttl(keys[0])
    assert 3500 < ttl <= 3600  # the visitor counts again after an hour


async def test_a_crowd_larger_than_the_pool_gets_the_page_while_the_catalog_lacks_the_drop(
        settings: Settings, database_url: str, redis_url: str, tmp_path: Path) -> None:
    """A sweeper that read SQL just before a drop was committed syncs the catalog without it until its
    next check: meanwhile each load reads the drop from SQL. 40 loads at once, more than the pool has
    connections (SQLite 15, PostgreSQL 30), all get the page: none holds a connection while waiting
    for another (before, they did, and waited out the pool's timeout into 503s)."""
    prefix = f"{settings.redis_prefix}c{uuid.uuid4().hex[:4]}"
    # Its own app without the sweeper, so that nothing puts the drop back while the crowd loads.
    app = create_app(make_settings(database_url, redis_url, tmp_path, redis_prefix=prefix, run_background=False))
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            async with runtime_of(app).sessions() as session:
                before = await DropRepository(session).not_ended(utcnow())
            operator, owner = await make_account(app, "operator"), await make_account(app)
            order = await paid_order(client, owner, (await create_drop(client, operator))["id"])
            assert (await share_of(client, owner, order["id"]))["views"] == 0  # the link's row (no sink here)
            await services_of(app).catalog.sync(before)  # the sweeper's late sync: the new drop is gone
            async with browser(app) as visitor:
                pages = await asyncio.gather(*(visitor.get(path_of(order["share_url"])) for _ in range(40)))
            assert Counter(p.status_code for p in pages) == {200: 40}
            assert (await share_of(client, owner, order["id"]))["views"] == 1
    finally:
        delete_prefix(redis_url, prefix)


async def test_crawler_unfurls_count_apart(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, owner = await make_account(app, "operator"), await make_account(app)
    order = await paid_order(client, owner, (await create_drop(client, operator))["id"])
    path = path_of(order["share_url"])

    async def unfurl(agent: str) -> None:
        async with browser(app, agent, "192.0.2.7") as bot:
            for response in await asyncio.gather(bot.get(path), bot.get(path), bot.get(path)):
                assert response.status_code == 200

    await asyncio.gather(*(unfurl(agent) for agent in CRAWLERS))
    assert await counts(client, owner, order["id"]) == (0, len(CRAWLERS))
    async with browser(app, address="192.0.2.7") as person:
        assert (await person.get(path)).status_code == 200
    assert await counts(client, owner, order["id"]) == (1, len(CRAWLERS))


async def test_views_of_revoked_links_count_nowhere(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, owner = await make_account(app, "operator"), await make_account(app)
    order = await paid_order(client, owner, (await create_drop(client, operator))["id"])
    path = path_of(order["share_url"])
    async with browser(app) as visitor:
        assert (await visitor.get(path)).status_code == 200
    assert (await client.delete(f"/api/orders/{order['id']}/share", headers=owner.headers)).status_code == 204
    runtime = runtime_of(app)
    views_key = runtime.keys.share_views(token_hash(token_of(order["share_url"])))
    assert await runtime.redis.exists(views_key) == 0  # the dead link's counts are gone
    async with browser(app, f"{BROWSER_UA} other") as visitor:
        assert (await visitor.get(path)).status_code == 404
    assert await runtime.redis.exists(views_key) == 0
    fresh = (await client.post(f"/api/orders/{order['id']}/share", headers=owner.headers)).json()
    assert (fresh["views"], fresh["crawler_views"]) == (0, 0)
