"""Sign-in and registration limits: counted before the decision (a parallel burst cannot slip
past), per account and address pair (locks), per account (only slows down, so a stranger cannot
lock the owner out) and per address; Argon2 work bounded so logins cannot take every core."""
from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest
from fastapi import FastAPI

from core.errors import RateLimited
from core.settings import Settings
from core.work import BoundedWork
from tests.support import PASSWORD, is_problem, make_account, make_accounts, runtime_of
from tests.test_auth import client_at, fresh_address, login, new_email


async def test_a_parallel_burst_of_wrong_passwords_is_counted_before_it_is_checked(app: FastAPI) -> None:
    limit = runtime_of(app).settings.login_max_failures
    account = await make_account(app)
    async with client_at(app, fresh_address()) as client:
        answers = await asyncio.gather(*(login(client, account.email, f"Wrong-{i}-password") for i in range(60)))
    statuses = Counter(r.status_code for r in answers)
    assert statuses[401] <= limit, statuses       # no more guesses evaluated than the limit allows
    assert statuses[401] + statuses[429] == 60, statuses
    assert all(is_problem(r, 429, "rate_limited") and int(r.headers["retry-after"]) > 0
               for r in answers if r.status_code == 429)


async def test_the_pair_locks_but_the_owner_still_signs_in_from_elsewhere(app: FastAPI) -> None:
    settings = runtime_of(app).settings
    account = await make_account(app)
    async with client_at(app, fresh_address()) as stranger:
        for attempt in range(settings.login_max_failures):
            assert is_problem(await login(stranger, account.email, f"Guess-{attempt}-x"), 401, "bad_credentials")
        locked = await login(stranger, account.email, PASSWORD)  # the pair is locked: even the right one
        assert is_problem(locked, 429, "rate_limited"), locked.text
        assert 0 < int(locked.headers["retry-after"]) <= settings.login_window_seconds
        other = await make_account(app)
        assert (await login(stranger, other.email, PASSWORD)).status_code == 200  # other accounts: fine
    async with client_at(app, fresh_address()) as owner:
        assert (await login(owner, account.email, PASSWORD)).status_code == 200, "the owner was locked out"


async def test_failures_from_many_addresses_slow_the_account_down_without_locking_it(
        app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = runtime_of(app).settings
    monkeypatch.setattr(settings, "login_account_slow_after", 3)
    monkeypatch.setattr(settings, "login_account_max_delay_seconds", 0.4)
    account = await make_account(app)
    for attempt in range(8):  # a distributed guesser: each address stays far below the pair's lock
        async with client_at(app, fresh_address()) as guesser:
            wrong = await login(guesser, account.email, f"Guess-{attempt}-x")
            assert is_problem(wrong, 401, "bad_credentials"), wrong.text
    async with client_at(app, fresh_address()) as owner:
        started = time.monotonic()
        signed_in = await login(owner, account.email, PASSWORD)
        waited = time.monotonic() - started
    assert signed_in.status_code == 200, signed_in.text
    assert waited >= 0.35, waited  # slowed down (the account's failures), not refused


async def test_successful_sign_ins_take_back_their_count(app: FastAPI) -> None:
    settings = runtime_of(app).settings
    account = await make_account(app)
    async with client_at(app, fresh_address()) as client:
        for _ in range(settings.login_max_failures - 1):
            assert (await login(client, account.email, "Wrong-password-1")).status_code == 401
        for _ in range(5):  # each success forgives itself: the pair never reaches its lock
            assert (await login(client, account.email, PASSWORD)).status_code == 200


async def test_sign_ins_per_address_are_limited(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_of(app).settings, "login_per_address_per_minute", 5)
    accounts = await make_accounts(app, 7)
    address = fresh_address()
    async with client_at(app, address) as client:
        answers = [await login(client, account.email, PASSWORD) for account in accounts]
    assert [r.status_code for r in answers] == [200] * 5 + [429] * 2
    assert 0 < int(answers[-1].headers["retry-after"]) <= 60
    async with client_at(app, fresh_address()) as elsewhere:
        assert (await login(elsewhere, accounts[-1].email, PASSWORD)).status_code == 200


async def test_registrations_per_address_are_limited(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_of(app).settings, "register_per_address_per_hour", 3)
    address = fresh_address()
    async with client_at(app, address) as client:
        answers = await asyncio.gather(*(
            client.post("/api/auth/register", json={"email": new_email(), "password": PASSWORD})
            for _ in range(8)))
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {201: 3, 429: 5}, statuses  # a parallel burst too: counted before the decision
    assert all(is_problem(r, 429, "rate_limited") for r in answers if r.status_code == 429)
    async with client_at(app, fresh_address()) as elsewhere:
        created = await elsewhere.post("/api/auth/register", json={"email": new_email(), "password": PASSWORD})
        assert created.status_code == 201


async def test_password_hashing_is_bounded_per_process(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    bounded = runtime_of(app).passwords  # the app's own (runtime is frozen): its queue made short here
    monkeypatch.setattr(bounded, "queue", 2)
    assert bounded.concurrency == 1
    accounts = await make_accounts(app, 8)
    running, peak, lock = 0, 0, threading.Lock()
    original = bounded.run

    async def watched(func, *args):  # type: ignore[no-untyped-def]
        def counted(*inner):  # type: ignore[no-untyped-def]
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            try:
                return func(*inner)
            finally:
                with lock:
                    running -= 1
        return await original(counted, *args)

    monkeypatch.setattr(bounded, "run", watched)
    answers = []
    for account in accounts:
        async with client_at(app, fresh_address()) as client:
            answers.append(asyncio.ensure_future(login(client, account.email, PASSWORD)))
            await asyncio.sleep(0)
    done = await asyncio.gather(*answers)
    statuses = Counter(r.status_code for r in done)
    assert peak == 1, peak                       # one Argon2 at a time in this process
    assert statuses[200] >= 3 and statuses[429] >= 1, statuses  # the rest is told to come back, at once
    assert all(r.headers.get("retry-after") == "1" for r in done if r.status_code == 429)


async def test_bounded_work_refuses_beyond_its_queue() -> None:
    work = BoundedWork(concurrency=1, queue=1)
    gate = threading.Event()
    first = asyncio.ensure_future(work.run(gate.wait, 5))
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(work.run(lambda: "queued"))
    await asyncio.sleep(0.05)
    with pytest.raises(RateLimited):
        await work.run(lambda: "refused")
    gate.set()
    assert await first is True and await second == "queued"


def test_defaults_bound_the_work(tmp_path: object) -> None:
    defaults = Settings(var_dir=tmp_path)  # type: ignore[arg-type]
    assert defaults.password_hash_concurrency == 1 and defaults.password_hash_queue > 0
    assert defaults.login_per_address_per_minute <= 60 and defaults.register_per_address_per_hour <= 60
