"""The on-call gauges of /metrics, read at scrape time: the order writer's lag (the oldest order event
not yet in SQL) passes the alert's 5 s while the writer is stopped and falls back to 0 once it has
written; units left and queue depth per live drop, an ended drop's series gone; payment outcomes
from fixed label sets; Redis gone reads as `flashsale_redis_up 0`, quickly.

Marked `cluster`: the gauges' reads (one pipeline over every watched drop's keys) must work on a
Redis Cluster as well, so CI's cluster pass runs these too."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from core.clock import ManualClock
from core.embedded_redis import EmbeddedRedis
from core.metrics import PAYMENT_OUTCOMES, PAYMENT_PROVIDERS, count_payment
from core.settings import Settings
from sale.gauges import GaugeReader
from sale.sink import GROUP, OrderSink, ensure_group
from tests.support import Account, buy, create_drop, iso, make_account, make_accounts, runtime_of, services_of
from tests.support.clock import drop_own_keys, own_database
from tests.test_platform import serving

pytestmark = pytest.mark.cluster

LAG_ALERT_SECONDS = 5  # deploy/prometheus/alerts.yml: FlashsaleOrderWriterBehind


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """A metric's samples by their labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = float(sample.value)
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text, name).get(tuple(sorted(labels.items())))


@dataclass
class Stopped:
    """An app whose order writer is not running (no background loops), on a clock the test steps."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock

    async def scrape(self) -> str:
        response = await self.client.get("/metrics")
        assert response.status_code == 200
        return response.text

    async def write(self) -> int:
        """The order writer runs until the streams are empty (entries pending on a dead consumer claimed at once)."""
        runtime = runtime_of(self.app)
        writer = OrderSink(runtime.redis, runtime.keys, runtime.sessions, runtime.database_writes,
                           claim_idle_ms=0, consumer="test-writer")
        written = 0
        for _ in range(4):  # its pending entries, new ones, claimed ones
            written += await writer.step(block_ms=0)
        return written

    async def drop(self, operator: Account, **overrides: Any) -> dict[str, Any]:
        """A drop, loaded in Redis as the sweeper (not running here) would load it."""
        drop = await create_drop(self.client, operator, **overrides)
        await services_of(self.app).loader.load_by_id(drop["id"])
        return drop


@pytest.fixture
async def stopped(manual_settings: Settings, tmp_path: Path) -> AsyncIterator[Stopped]:
    # The manual app's own database and Redis prefix: the session app's writer never reads these streams.
    clock = ManualClock()
    own = own_database(manual_settings, tmp_path)
    app = create_app(own.model_copy(update={"run_background": False, "metrics_max_age_seconds": 0}), clock=clock)
    async with serving(app) as client:
        stopped = Stopped(app, client, clock)
        await stopped.write()  # what earlier tests on this prefix may have left
        yield stopped
    drop_own_keys(own, manual_settings)


async def test_the_lag_passes_the_alert_threshold_while_the_writer_is_stopped(stopped: Stopped) -> None:
    operator = await make_account(stopped.app, "operator")
    buyers = await make_accounts(stopped.app, 3)
    drop = await stopped.drop(operator, stock=10)
    first = await stopped.scrape()
    assert value(first, "flashsale_order_writer_lag_seconds") == 0
    assert value(first, "flashsale_order_stream_length") == 0
    for buyer in buyers:
        await buy(stopped.client, buyer, drop["id"])
    fresh = await stopped.scrape()
    assert value(fresh, "flashsale_order_stream_length") == 3
    assert (value(fresh, "flashsale_order_writer_lag_seconds") or 0) < LAG_ALERT_SECONDS

    stopped.clock.set(datetime.now(UTC) + timedelta(seconds=LAG_ALERT_SECONDS + 1))
    behind = await stopped.scrape()
    lag = value(behind, "flashsale_order_writer_lag_seconds")
    assert lag is not None and LAG_ALERT_SECONDS < lag < LAG_ALERT_SECONDS + 30, behind
    assert value(behind, "flashsale_drop_units_left", drop_id=str(drop["id"])) == 7

    # Delivered to a consumer that died before writing (pending, not acknowledged): still not in SQL.
    runtime = runtime_of(stopped.app)
    stream = runtime.keys.drop(drop["id"]).stream
    await runtime.redis.xreadgroup(GROUP, "died", {stream: ">"}, count=2)
    assert value(await stopped.scrape(), "flashsale_order_writer_lag_seconds") == lag

    # The writer back: the undelivered event, and the dead consumer's two, claimed.
    assert await stopped.write() == 3
    caught_up = await stopped.scrape()
    assert value(caught_up, "flashsale_order_writer_lag_seconds") == 0
    assert value(caught_up, "flashsale_order_stream_length") == 0


async def test_an_acknowledged_entry_left_in_the_stream_is_not_lag(stopped: Stopped) -> None:
    """The writer deletes what it acknowledged; one left behind (a lost XDEL) must not hold the gauge up."""
    operator = await make_account(stopped.app, "operator")
    drop = await stopped.drop(operator)
    runtime = runtime_of(stopped.app)
    redis, stream = runtime.redis, runtime.keys.drop(drop["id"]).stream
    await ensure_group(redis, runtime.keys, drop["id"])
    left = await redis.xadd(stream, {"i": "none"})
    await redis.xreadgroup(GROUP, "c", {stream: ">"})
    await redis.xack(stream, GROUP, left)
    reader = GaugeReader(redis, runtime.keys, stopped.clock)
    stopped.clock.set(datetime.now(UTC) + timedelta(minutes=5))
    gauge = next(d for d in (await reader.read()).drops if d.drop_id == drop["id"])
    assert gauge.oldest_unwritten_ms is None and gauge.stream_length == 1
    newer = await redis.xadd(stream, {"i": "none"})
    gauge = next(d for d in (await reader.read()).drops if d.drop_id == drop["id"])
    assert gauge.oldest_unwritten_ms == int(newer.split(b"-")[0])
    await redis.delete(stream)  # no order behind either entry: nothing for a writer to do


async def test_units_left_and_queue_depth_per_live_drop_and_an_ended_drop_leaves(stopped: Stopped) -> None:
    operator = await make_account(stopped.app, "operator")
    buyer = await make_account(stopped.app)
    start = datetime.now(UTC) - timedelta(seconds=5)
    ending = await stopped.drop(operator, stock=4, ends_at=iso(start + timedelta(seconds=60)))
    lasting = await stopped.drop(operator, stock=9)
    room = await stopped.drop(operator, stock=5, waiting_room=True, challenge=False,
                             starts_at=iso(start + timedelta(minutes=10)),
                             ends_at=iso(start + timedelta(minutes=70)))
    await buy(stopped.client, buyer, ending["id"])
    runtime = runtime_of(stopped.app)
    line = runtime.keys.drop(room["id"]).line
    await runtime.redis.zadd(line, {"101": 1, "102": 2})  # two buyers in the line (joining has its own tests)

    text = await stopped.scrape()
    assert value(text, "flashsale_drop_units_left", drop_id=str(ending["id"])) == 3
    assert value(text, "flashsale_drop_units_left", drop_id=str(lasting["id"])) == 9
    assert value(text, "flashsale_drop_queue_depth", drop_id=str(room["id"])) == 2
    assert value(text, "flashsale_drop_queue_depth", drop_id=str(lasting["id"])) == 0
    assert value(text, "flashsale_outbox_backlog") is not None  # the outbox's pending deliveries (any test's)
    assert value(text, "flashsale_redis_up") == 1 and value(text, "flashsale_database_up") == 1

    stopped.clock.set(start + timedelta(seconds=61))  # the first drop has ended
    later = await stopped.scrape()
    ids = {dict(labels)["drop_id"] for labels in samples(later, "flashsale_drop_units_left")}
    assert str(ending["id"]) not in ids and {str(lasting["id"]), str(room["id"])} <= ids
    assert str(ending["id"]) not in {dict(labels)["drop_id"]
                                     for labels in samples(later, "flashsale_drop_queue_depth")}
    # Its order event is not in SQL yet: the writer still watches it, and the lag still counts it.
    assert (value(later, "flashsale_order_writer_lag_seconds") or 0) > 50
    assert (value(later, "flashsale_live_drops") or 0) < (value(later, "flashsale_watched_drops") or 0)
    await runtime.redis.delete(line)


async def test_payment_outcomes_have_fixed_labels(client: httpx.AsyncClient, app: FastAPI,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_of(app).settings, "metrics_max_age_seconds", 0)
    before = (await client.get("/metrics")).text
    # Every pair exists from the start, at 0 or more: rates and ratios have series before a payment.
    pairs = {(dict(labels)["provider"], dict(labels)["outcome"])
             for labels in samples(before, "flashsale_payments_total")}
    assert {(p, o) for p in PAYMENT_PROVIDERS for o in PAYMENT_OUTCOMES} <= pairs
    count_payment("stripe", "failed")
    count_payment("a-provider-added-later", "succeeded")
    after = (await client.get("/metrics")).text
    assert value(after, "flashsale_payments_total", provider="stripe", outcome="failed") == (
        (value(before, "flashsale_payments_total", provider="stripe", outcome="failed") or 0) + 1)
    assert (value(after, "flashsale_payments_total", provider="other", outcome="succeeded") or 0) >= 1
    assert "a-provider-added-later" not in after
    with pytest.raises(ValueError, match="outcome"):
        count_payment("test", "maybe")  # type: ignore[arg-type]


async def test_redis_gone_reads_as_down_without_holding_the_scrape(settings: Settings, tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", persist=False)
    url = server.start()
    try:
        app = create_app(settings.model_copy(update={"run_background": False, "redis_url": url,
                                                     "redis_prefix": settings.redis_prefix + "g",
                                                     "metrics_max_age_seconds": 0}))
        async with serving(app) as client:
            up = (await client.get("/metrics")).text
            assert value(up, "flashsale_redis_up") == 1 and value(up, "flashsale_order_writer_lag_seconds") == 0
            server.stop()
            started = time.monotonic()
            down = await client.get("/metrics")
            assert down.status_code == 200 and time.monotonic() - started < 5
            assert value(down.text, "flashsale_redis_up") == 0
            # Not known is not zero: the Redis-down alert speaks, the lag gauge is absent.
            assert value(down.text, "flashsale_order_writer_lag_seconds") is None
            assert "flashsale_http_requests_total" in down.text
    finally:
        server.stop()
