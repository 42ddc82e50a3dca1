"""The gauges /metrics computes when it is scraped, from what Redis and the database say then.

Nothing is kept between scrapes but the last reading: a drop that ended (or left the sink's watch)
is simply absent from the next one, so the `drop_id` label takes only the ids of live drops (those
loaded in Redis whose end has not passed), a set the operators make, never the clients. Every read
is bounded (see sale/gauges.py) and given PROBE_SECONDS; what does not answer in time is absent
from the text (a gauge that is not there is not a false zero), except the two `_up` gauges, which
say 0. The reading is refreshed on the event loop (awaiting Redis and the database, never blocking)
at most once per FLASHSALE_METRICS_MAX_AGE_SECONDS (app/metrics.py caches the text), and turned
into text in the rendering thread.

The outbox seam: `flashsale_outbox_backlog` is what `outbox.backlog()` answers (core.metrics.OutboxBacklog),
0 from NO_OUTBOX until the outbox exists; its service is then handed to `live_metrics()` in app/main.py.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.probes import PROBE_SECONDS, database_up, redis_up
from core.metrics import NO_OUTBOX, OutboxBacklog
from core.runtime import Runtime
from sale.gauges import GaugeReader, SaleGauges

log = logging.getLogger("flashsale.metrics")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reading:
    """One scrape's figures; None where the source did not answer in time."""

    redis_up: bool = False
    database_up: bool = False
    sale: SaleGauges | None = None
    outbox_backlog: int | None = None


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)


def families(reading: Reading) -> list[Metric]:
    out: list[Metric] = [
        _gauge("flashsale_redis_up", "1 when Redis answered PING within the probe's time", int(reading.redis_up)),
        _gauge("flashsale_database_up", "1 when the database answered SELECT 1 and the order writer's last write "
               "did not fail", int(reading.database_up)),
    ]
    if reading.outbox_backlog is not None:
        out.append(_gauge("flashsale_outbox_backlog", "Outbox messages not yet sent", reading.outbox_backlog))
    sale = reading.sale
    if sale is None:
        return out
    out += [
        _gauge("flashsale_order_writer_lag_seconds", "Age of the oldest order event not yet written to SQL "
               "(0 when every event is written)", sale.writer_lag_seconds),
        _gauge("flashsale_order_stream_length", "Order events in the drops' streams, waiting for the order writer",
               sale.stream_length),
        _gauge("flashsale_watched_drops", "Drops whose order streams the order writer watches", len(sale.drops)),
        _gauge("flashsale_live_drops", "Drops loaded in Redis whose end has not passed", len(sale.live)),
    ]
    units = GaugeMetricFamily("flashsale_drop_units_left", "Units left per live drop", labels=["drop_id"])
    depth = GaugeMetricFamily("flashsale_drop_queue_depth", "Buyers waiting in the waiting room's line per live drop",
                              labels=["drop_id"])
    for drop in sale.live:
        units.add_metric([str(drop.drop_id)], drop.units_left)
        depth.add_metric([str(drop.drop_id)], drop.queue_depth)
    return [*out, units, depth]


class LiveMetrics(Collector):
    """Registered in a registry of its own (per app: the process-wide one is shared by every app a test
    process builds); `collect` runs in the rendering thread and only reads the last reading."""

    def __init__(self, runtime: Runtime, gauges: GaugeReader, outbox: OutboxBacklog = NO_OUTBOX,
                 timeout: float = PROBE_SECONDS) -> None:
        self.runtime = runtime
        self.gauges = gauges
        self.outbox = outbox
        self.timeout = timeout
        self.reading = Reading()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._failing: set[str] = set()

    async def refresh(self) -> Reading:
        redis_ok, database_ok, sale, backlog = await asyncio.gather(
            redis_up(self.runtime, self.timeout), database_up(self.runtime, self.timeout),
            self._within("the drops' gauges", self.gauges.read()),
            self._within("the outbox backlog", self.outbox.backlog()))
        self.reading = Reading(redis_ok, database_ok, sale, backlog)
        return self.reading

    async def _within(self, what: str, read: Awaitable[T]) -> T | None:
        try:
            value = await asyncio.wait_for(read, timeout=self.timeout)
        except Exception as exc:
            if what not in self._failing:  # once per outage, not once per scrape
                self._failing.add(what)
                log.warning("/metrics: %s not read (%s); left out until it answers", what, type(exc).__name__)
            return None
        self._failing.discard(what)
        return value

    def collect(self) -> Iterable[Metric]:
        return families(self.reading)


def live_metrics(runtime: Runtime, outbox: OutboxBacklog = NO_OUTBOX) -> LiveMetrics:
    return LiveMetrics(runtime, GaugeReader(runtime.redis, runtime.keys, runtime.clock), outbox)
