"""Who the client is, as every per-address limit counts it (app/deps.py client_address): the peer,
unless the peer is a trusted proxy (then the rightmost X-Forwarded-For entry that is not one of
ours); loopback is no exception. An IPv6 client is counted by its /64."""
from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from core.net import address_block, forwarded_client, networks
from tests.support import PASSWORD, create_drop, is_problem, make_account, make_accounts, runtime_of
from tests.support.fcodes import code_with, purchase
from tests.support.queue import join, room
from tests.test_auth import fresh_address, login, new_email

LIMIT = 20  # the contract's default per-address limits


@asynccontextmanager
async def peer(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
        yield client


def a_64() -> str:
    """The first four groups of a fresh IPv6 /64 (documentation range)."""
    return f"2001:db8:{secrets.randbelow(65535) + 1:x}:{secrets.randbelow(65535) + 1:x}"


def test_the_rules() -> None:
    proxies = networks("10.0.0.1, 10.1.0.0/16")
    assert forwarded_client("127.0.0.1", "6.6.6.6", networks("")) == "127.0.0.1"
    assert forwarded_client("203.0.113.9", "6.6.6.6", proxies) == "203.0.113.9"  # peer not trusted
    assert forwarded_client("10.0.0.1", "6.6.6.6, 198.51.100.7", proxies) == "198.51.100.7"
    assert forwarded_client("10.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.2.3", proxies) == "198.51.100.7"
    assert forwarded_client("10.0.0.1", "garbage, 198.51.100.7", proxies) == "198.51.100.7"
    assert forwarded_client("10.0.0.1", "", proxies) == "10.0.0.1"
    assert forwarded_client("::ffff:10.0.0.1", "198.51.100.7", proxies) == "198.51.100.7"
    assert address_block("2001:db8:1:2:3:4:5:6") == address_block("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address_block("2001:db8:1:3::1") != address_block("2001:db8:1:2::1")
    assert address_block("::ffff:192.0.2.1") == "192.0.2.1"


def test_a_bad_trusted_proxies_setting_refuses_to_start(settings: object) -> None:
    from pydantic import ValidationError

    from core.settings import Settings

    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies="10.0.0.1, not-an-address", jwt_secret="j" * 40, secret_key="s" * 40)


async def test_forwarded_for_from_loopback_is_ignored_without_trusted_proxies(
        app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_of(app).settings, "login_per_address_per_minute", LIMIT)
    accounts = await make_accounts(app, LIMIT + 4)
    async with peer(app, fresh_address()) as client:  # 127.x.y.z: loopback
        answers = [await client.post("/api/auth/token", data={"username": account.email, "password": PASSWORD},
                                     headers={"X-Forwarded-For": f"198.51.100.{i}"})
                   for i, account in enumerate(accounts)]
    assert [r.status_code for r in answers] == [200] * LIMIT + [429] * 4
    assert is_problem(answers[-1], 429, "rate_limited")


async def test_behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client(
        app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = runtime_of(app).settings
    proxy = fresh_address()
    monkeypatch.setattr(settings, "trusted_proxies", f"{proxy},10.9.0.0/16")
    monkeypatch.setattr(settings, "login_per_address_per_minute", LIMIT)
    accounts = await make_accounts(app, LIMIT + 5)
    real = f"198.18.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    async with peer(app, proxy) as client:
        # The client writes whatever it likes on the left; the proxies append the real address.
        answers = [await client.post("/api/auth/token", data={"username": account.email, "password": PASSWORD},
                                     headers={"X-Forwarded-For": f"203.0.113.{i}, {real}, 10.9.1.1"})
                   for i, account in enumerate(accounts[:LIMIT + 4])]
        assert [r.status_code for r in answers] == [200] * LIMIT + [429] * 4
        apart = await client.post("/api/auth/token", data={"username": accounts[-1].email, "password": PASSWORD},
                                  headers={"X-Forwarded-For": "198.18.251.1"})
        assert apart.status_code == 200, apart.text  # another client behind the same proxy: counted apart


async def test_sign_ins_from_one_64_share_the_limit(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_of(app).settings, "login_per_address_per_minute", LIMIT)
    accounts = await make_accounts(app, LIMIT + 4)
    block = a_64()
    answers = []
    for i, account in enumerate(accounts):
        async with peer(app, f"{block}:{i:x}::{secrets.randbelow(65535):x}") as client:
            answers.append(await login(client, account.email, PASSWORD))
    assert [r.status_code for r in answers] == [200] * LIMIT + [429] * 4


async def test_registrations_from_one_64_share_the_limit(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_of(app).settings, "register_per_address_per_hour", LIMIT)
    block = a_64()
    statuses = []
    for i in range(LIMIT + 2):
        async with peer(app, f"{block}::{i + 1:x}") as client:
            response = await client.post("/api/auth/register", json={"email": new_email(), "password": PASSWORD})
            statuses.append(response.status_code)
    assert statuses == [201] * LIMIT + [429] * 2
    async with peer(app, f"{a_64()}::1") as elsewhere:  # the next /64 is someone else
        assert (await elsewhere.post("/api/auth/register",
                                     json={"email": new_email(), "password": PASSWORD})).status_code == 201


async def test_queue_joins_from_one_64_share_the_limit(app: FastAPI, client: httpx.AsyncClient) -> None:
    limit = runtime_of(app).settings.queue_joins_per_address
    operator = await make_account(app, "operator")
    farm = await make_accounts(app, limit + 2)
    drop = await room(client, operator, 30)
    block = a_64()
    answers = [await join(app, drop["id"], account, address=f"{block}:{i:x}::1") for i, account in enumerate(farm)]
    assert [a.status_code for a in answers] == [200] * limit + [429, 429]


async def test_fcode_failures_from_one_64_share_the_limit(app: FastAPI, client: httpx.AsyncClient) -> None:
    limit = runtime_of(app).settings.fcode_max_failures
    operator = await make_account(app, "operator")
    guessers = await make_accounts(app, limit + 2)
    drop = await create_drop(client, operator, stock=10)
    block = a_64()
    answers = []
    for i, guesser in enumerate(guessers):  # a fresh account and address each time: only the /64 repeats
        async with peer(app, f"{block}::{i + 1:x}") as c:
            answers.append(await purchase(c, drop["id"], guesser, code_with("")))
    assert [(r.status_code, r.json()["code"]) for r in answers] == \
        [(403, "fcode_invalid")] * limit + [(429, "rate_limited")] * 2
