"""Asynchronous delivery of signed notices (Stripe's webhooks, Alipay's notifies) the way providers
deliver them: later than the payment, sometimes twice or out of order, retried with backoff until
the receiver accepts. Both fakes share this; its chaos and its figures are read and set at run time
through their `/_fake/deliveries` endpoints (the load test uses them)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import TypedDict

import httpx

from fakes.http_post import PostClient, PostError

log = logging.getLogger("fakes.delivery")
LATENCIES_KEPT = 200_000  # the newest answers' latencies the percentiles are computed over
CONNECTIONS = 32  # deliveries in flight at once, each on a kept-alive connection (more only costs CPU)


@dataclass(frozen=True)
class Chaos:
    """Each notice waits a random delay in [delay_min, delay_max] seconds; a `duplicate_fraction` of
    them is delivered twice (two independent deliveries of the same notice, same id); an
    `out_of_order_fraction` is held back `reorder_seconds` beyond the longest delay, so that later
    notices overtake it. A delivery the receiver does not accept (an error, a timeout, a non-2xx answer,
    for Alipay anything but `success`) is tried `max_attempts` times in all, the waits doubling from
    `retry_base_seconds` up to `retry_max_seconds`: bounded, so that a test ends."""
    delay_min: float = 0.0
    delay_max: float = 0.0
    duplicate_fraction: float = 0.0
    out_of_order_fraction: float = 0.0
    reorder_seconds: float = 1.0
    max_attempts: int = 6
    retry_base_seconds: float = 0.1
    retry_max_seconds: float = 2.0
    timeout_seconds: float = 10.0

    def updated(self, changes: Mapping[str, object]) -> Chaos:
        """A copy with `changes` (names as the fields); ValueError for an unknown name or a bad value."""
        known = {field.name for field in fields(self)}
        values: dict[str, float | int] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown chaos setting {name!r}")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a number")
            values[name] = int(value) if name == "max_attempts" else float(value)
        chaos = replace(self, **values)  # type: ignore[arg-type]
        chaos.check()
        return chaos

    def check(self) -> None:
        if not 0 <= self.delay_min <= self.delay_max <= 3600:
            raise ValueError("need 0 <= delay_min <= delay_max <= 3600")
        for name in ("duplicate_fraction", "out_of_order_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 1 <= self.max_attempts <= 100:
            raise ValueError("max_attempts must be between 1 and 100")
        if min(self.reorder_seconds, self.retry_base_seconds, self.retry_max_seconds) < 0 or self.timeout_seconds <= 0:
            raise ValueError("times must not be negative")

    def as_json(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Notice:
    """One message to deliver. `headers` is called at each attempt (Stripe signs with the attempt's
    time); `accepted` decides from the receiver's answer whether it is delivered."""
    url: str
    body: bytes
    headers: Callable[[], dict[str, str]]
    accepted: Callable[[int, bytes], bool]  # from the answer's status and body
    label: str


class LatencyJson(TypedDict):
    count: int
    p50: float | None
    p99: float | None
    max: float | None


class StatsJson(TypedDict):
    notices: int     # notices submitted (a duplicated one counts once)
    sent: int        # HTTP attempts made
    delivered: int   # deliveries the receiver accepted
    retried: int     # attempts after a delivery's first
    failed: int      # deliveries given up after max_attempts
    duplicated: int  # notices delivered twice on purpose
    reordered: int   # deliveries held back to arrive out of order
    pending: int     # deliveries not finished yet
    latency_ms: LatencyJson  # of the receiver's answers (the time from sending to its answer)


def percentile(ordered: list[float], share: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 3)


class Deliverer:
    """Delivers notices from the event loop it is used in. `transports` routes some origins to
    in-process apps through httpx (`{"http://testserver": httpx.ASGITransport(app)}`); the rest go over
    HTTP with the fakes' own small client (fakes/http_post.py)."""

    def __init__(self, chaos: Chaos | None = None, *,
                 transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
                 rng: random.Random | None = None) -> None:
        self.chaos = chaos or Chaos()
        self.chaos.check()
        self._transports = dict(transports or {})
        self._rng = rng or random.Random()  # chaos, not secrecy
        self._client: httpx.AsyncClient | None = None
        self._poster = PostClient(CONNECTIONS)
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(CONNECTIONS)
        self._counts = dict.fromkeys(("notices", "sent", "delivered", "retried", "failed", "duplicated",
                                      "reordered"), 0)
        self._latencies: deque[float] = deque(maxlen=LATENCIES_KEPT)

    def configure(self, changes: Mapping[str, object]) -> Chaos:
        self.chaos = self.chaos.updated(changes)
        return self.chaos

    def submit(self, notice: Notice) -> None:
        """Schedules the notice's delivery (call it from the loop's thread); returns at once."""
        chaos, loop = self.chaos, asyncio.get_running_loop()
        self._counts["notices"] += 1
        copies = 2 if self._rng.random() < chaos.duplicate_fraction else 1
        self._counts["duplicated"] += copies - 1
        for _ in range(copies):
            delay = self._rng.uniform(chaos.delay_min, chaos.delay_max)
            if self._rng.random() < chaos.out_of_order_fraction:
                delay += chaos.delay_max + chaos.reorder_seconds
                self._counts["reordered"] += 1
            task = loop.create_task(self._deliver(notice, delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post(self, notice: Notice) -> tuple[int, bytes]:
        headers = notice.headers()
        if not any(notice.url.startswith(origin) for origin in self._transports):
            answer = await self._poster.post(notice.url, notice.body, headers)
            return answer.status, answer.body
        if self._client is None:
            self._client = httpx.AsyncClient(mounts=dict(self._transports), follow_redirects=False)
        response = await self._client.post(notice.url, content=notice.body, headers=headers)
        return response.status_code, response.content

    async def _deliver(self, notice: Notice, delay: float) -> None:
        await asyncio.sleep(delay)
        for attempt in range(1, self.chaos.max_attempts + 1):
            if attempt > 1:
                self._counts["retried"] += 1
                wait = min(self.chaos.retry_max_seconds, self.chaos.retry_base_seconds * 2 ** (attempt - 2))
                await asyncio.sleep(wait * self._rng.uniform(0.5, 1.0))
            try:
                async with self._slots:  # the latency counts from here: the receiver's time, not the queue's
                    self._counts["sent"] += 1
                    started = time.perf_counter()
                    async with asyncio.timeout(self.chaos.timeout_seconds):
                        status, body = await self._post(notice)
            except (PostError, httpx.HTTPError, TimeoutError) as exc:
                log.info("delivery of %s to %s failed (attempt %d): %r", notice.label, notice.url, attempt, exc)
                continue
            self._latencies.append((time.perf_counter() - started) * 1000)
            if notice.accepted(status, body):
                self._counts["delivered"] += 1
                return
            log.info("delivery of %s refused with %d (attempt %d)", notice.label, status, attempt)
        self._counts["failed"] += 1
        log.warning("gave up delivering %s to %s after %d attempts", notice.label, notice.url, self.chaos.max_attempts)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, seconds: float) -> bool:
        """Waits until every delivery has finished (accepted or given up); False if `seconds` passed first."""
        deadline = time.monotonic() + seconds
        while self._tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=left)
        return True

    def stats(self) -> StatsJson:
        ordered = sorted(self._latencies)
        latency = LatencyJson(count=len(ordered), p50=percentile(ordered, 0.50), p99=percentile(ordered, 0.99),
                              max=round(ordered[-1], 3) if ordered else None)
        c = self._counts
        return StatsJson(notices=c["notices"], sent=c["sent"], delivered=c["delivered"], retried=c["retried"],
                         failed=c["failed"], duplicated=c["duplicated"], reordered=c["reordered"],
                         pending=self.pending, latency_ms=latency)

    def reset_stats(self) -> None:
        """Zeroes the figures (deliveries under way go on and are counted afresh)."""
        self._counts = dict.fromkeys(self._counts, 0)
        self._latencies.clear()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._poster.aclose()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
