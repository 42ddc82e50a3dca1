"""/metrics: only allowed addresses (loopback by default) or an operator's token read it, anyone
else gets the 404 of a path that does not exist; whatever clients send, its size does not grow."""
from __future__ import annotations

import secrets
import uuid

import httpx
import pytest
from fastapi import FastAPI

from tests.support import is_problem, make_account, runtime_of
from tests.test_client_address import peer

ODD_METHODS = ("PROPFIND", "MKCOL", "PURGE", "BREW", "LOCK", "UNLOCK", "SEARCH", "REPORT", "COPY", "MOVE",
               "PROPPATCH", "LINK", "UNLINK")


def outside() -> str:
    return f"198.51.100.{secrets.randbelow(250) + 1}"


async def test_loopback_reads_it_and_a_stranger_gets_404(app: FastAPI) -> None:
    async with peer(app, "127.0.0.1") as local:
        scraped = await local.get("/metrics")
        assert scraped.status_code == 200 and "flashsale_http_requests_total" in scraped.text
    async with peer(app, "::1") as local6:
        assert (await local6.get("/metrics")).status_code == 200
    async with peer(app, outside()) as stranger:
        refused = await stranger.get("/metrics")
        missing = await stranger.get(f"/no-such-{uuid.uuid4().hex}")
        assert is_problem(refused, 404) and refused.json()["code"] == missing.json()["code"]
        assert "flashsale_" not in refused.text
        # Claiming to be loopback through X-Forwarded-For changes nothing (no trusted proxy).
        assert (await stranger.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})).status_code == 404


async def test_an_operator_token_reads_it_from_anywhere_and_no_other_token_does(app: FastAPI) -> None:
    operator, shopper, employee = (await make_account(app, "operator"), await make_account(app),
                                   await make_account(app, "employee"))
    async with peer(app, outside()) as remote:
        assert (await remote.get("/metrics", headers=operator.headers)).status_code == 200
        for headers in (shopper.headers, employee.headers, {"Authorization": "Bearer forged.token.here"},
                        {"Authorization": "Basic b3A6b3A="}):
            assert (await remote.get("/metrics", headers=headers)).status_code == 404, headers


async def test_the_allowed_addresses_are_a_setting(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_of(app).settings, "metrics_allow", "10.20.0.0/16")
    async with peer(app, "10.20.3.4") as monitor:
        assert (await monitor.get("/metrics")).status_code == 200
    async with peer(app, "127.0.0.1") as local:  # loopback is only the default
        assert (await local.get("/metrics")).status_code == 404


def series(text: str) -> set[str]:
    """Each sample's name and labels, without its value."""
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


async def test_what_clients_send_does_not_grow_it(app: FastAPI, client: httpx.AsyncClient,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_of(app).settings, "metrics_max_age_seconds", 0)  # every scrape fresh
    async def noise(count: int) -> None:
        for i in range(count):
            method = ODD_METHODS[i % len(ODD_METHODS)]
            path = secrets.choice((f"/{uuid.uuid4().hex}", f"/api/drops/{uuid.uuid4().hex}",
                                   f"/api/{uuid.uuid4().hex}/x", f"/s/{uuid.uuid4().hex}"))
            await client.request(method if i % 3 else "GET", path)
            if i % 5 == 0:
                await client.request(method, "/api/drops")  # a real route, an odd method

    for method in (*ODD_METHODS, "GET"):  # every label the noise can produce, once (not left to chance)
        for path in (f"/{uuid.uuid4().hex}", f"/api/drops/{uuid.uuid4().hex}", f"/api/{uuid.uuid4().hex}/x",
                     f"/s/{uuid.uuid4().hex}", "/api/drops"):
            await client.request(method, path)
    before = (await client.get("/metrics")).text
    await noise(1_300)
    after = (await client.get("/metrics")).text
    # The noise answers 4xx only; a 200 series is someone else's (this worker's other apps share the
    # process-wide registry, and a task of an earlier test may still be finishing a request).
    assert {s for s in series(after) if 'status="200"' not in s} == {s for s in series(before)
                                                                     if 'status="200"' not in s}
    assert len(after) < len(before) * 1.02, (len(before), len(after))  # only the counts' digits changed
    assert not any(method in after for method in ODD_METHODS)
    assert 'method="other"' in after and 'route="unmatched"' in after


async def test_scrapes_share_one_rendering_for_its_max_age(app: FastAPI, client: httpx.AsyncClient,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    settings = runtime_of(app).settings
    monkeypatch.setattr(settings, "metrics_max_age_seconds", 0)
    await client.get("/metrics")
    monkeypatch.setattr(settings, "metrics_max_age_seconds", 3600)
    first = (await client.get("/metrics")).text
    for _ in range(5):
        await client.get("/api/drops")
    assert (await client.get("/metrics")).text == first  # scrapers in a loop: one render per max age
    monkeypatch.setattr(settings, "metrics_max_age_seconds", 0)
    assert (await client.get("/metrics")).text != first
