"""What a simulated person does through the API, and the state the Locust processes keep: the plan,
this process's share of the accounts, the tally (reported to the master), the shared share links.
Imported by the locustfile only: it reads the plan at import (FLASHSALE_LOADTEST_PLAN)."""
from __future__ import annotations

import json
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from gevent.pool import Group
from locust import events
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import WorkerRunner

from loadtest.order import OrderJson, PurchaseBody, is_order
from loadtest.plan import Account, Plan
from loadtest.tally import PURCHASE, PURCHASE_RETRY, Tally, is_expected

PLAN = Plan.from_env()
TALLY = Tally()
DROP_PATH = f"/api/drops/{PLAN.drop_id}"
WAITING_PHASES = ("upcoming", "priority")
RECONNECT_WITHIN_MS = 1000.0  # no answer faster than this is a dropped connection, not a timeout
Check = Callable[[int, Any], str | None]


class AccountPool:
    """This process's share of the accounts, handed out in turn (greenlets switch only on I/O)."""

    def __init__(self, accounts: list[Account], *, wrap: bool) -> None:
        self.accounts = accounts
        self.wrap = wrap
        self.position = 0

    def next(self) -> Account | None:
        if not self.accounts or (not self.wrap and self.position >= len(self.accounts)):
            return None
        account = self.accounts[self.position % len(self.accounts)]
        self.position += 1
        return account


class Shared:
    buyers = AccountPool([], wrap=True)
    employees = AccountPool([], wrap=False)
    share_tokens: deque[str] = deque(maxlen=10_000)
    sold_out_variants: set[str] = set()  # variants this process saw sold out: the page shows them so
    settling = Group()  # buyers paying, cancelling or walking away, each on their own time


def _take_partition(environment: Environment, **_: Any) -> None:
    # Each worker process takes every n-th account, so no two processes act as the same buyer.
    runner = environment.runner
    index = max(0, runner.worker_index) if isinstance(runner, WorkerRunner) else 0
    index %= max(1, PLAN.partitions)
    Shared.buyers = AccountPool(PLAN.buyers[index::PLAN.partitions], wrap=True)
    Shared.employees = AccountPool(PLAN.employees[index::PLAN.partitions], wrap=False)


def _finish_settling(environment: Environment, **_: Any) -> None:
    # Payments still in flight when the clock runs out are waited for, briefly, so they are counted.
    Shared.settling.join(timeout=5)
    Shared.settling.kill(block=False)


def _report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["flashsale"] = TALLY.take()


def _collect(client_id: str, data: dict[str, Any], **_: Any) -> None:
    TALLY.merge(data.get("flashsale", {}))


def _write_tally(environment: Environment, **_: Any) -> None:
    if PLAN.tally_path and not isinstance(environment.runner, WorkerRunner):
        Path(PLAN.tally_path).write_text(json.dumps(TALLY.as_dict()))


events.test_start.add_listener(_take_partition)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_finish_settling)  # type: ignore[no-untyped-call]
events.report_to_master.add_listener(_report)  # type: ignore[no-untyped-call]
events.worker_report.add_listener(_collect)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_write_tally)  # type: ignore[no-untyped-call]


class Pacer:
    """Spaces one user's purchase cycles `period` apart; the first shot lands at a random point of the
    first period, as buyers' reactions to the open differ, so the rush arrives at the target rate."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.next_at: float | None = None

    def first(self) -> float:
        self.next_at = time.time() + random.uniform(0, self.period)
        return self.next_at - time.time()

    def next(self) -> float:
        now = time.time()
        base = self.next_at if self.next_at is not None else now
        # Behind schedule (a slow answer): catch up by at most one period, never in a burst.
        self.next_at = max(base + self.period, now - self.period)
        return max(0.0, self.next_at - now)


def call(client: FastHttpSession, method: str, path: str, name: str, account: Account | None = None,
         body: Any = None, headers: dict[str, str] | None = None, check: Check | None = None
         ) -> tuple[int, Any, float]:
    """One request; returns (status, JSON body or None, milliseconds). Refusals the sale promises are
    successes for Locust; `check` may still fail a 2xx whose body is wrong.

    A request that fails fast without an answer (the server closed an idle kept-alive connection as it
    was reused) is sent once more, as browsers do: every call here is safe to repeat (purchases carry an
    Idempotency-Key; paying, cancelling and claiming are idempotent). It is counted as "0 reconnect"."""
    sent = dict(headers or {})
    if account is not None:
        sent["Authorization"] = f"Bearer {account.token}"
    for attempt in (1, 2):
        started = time.perf_counter()
        with client.request(method, path, name=name, json=body, headers=sent, catch_response=True) as response:
            elapsed_ms = (time.perf_counter() - started) * 1000
            status = int(response.status_code or 0)
            if status == 0 and attempt == 1 and elapsed_ms < RECONNECT_WITHIN_MS:
                TALLY.answer(name, 0, "reconnect")
                response.success()
                continue
            data: Any = None
            if "json" in (response.headers or {}).get("content-type", "") and response.content:
                try:
                    data = json.loads(response.content)
                except ValueError:
                    data = None
            code = str(data.get("code", "")) if status >= 400 and isinstance(data, dict) else ""
            TALLY.answer(name, status, code)
            problem = None if is_expected(status, code) else f"{status} {code or 'unexpected answer'}"
            if problem is None and check is not None and 200 <= status < 300:
                problem = check(status, data)
            if problem is None:
                response.success()
            else:
                response.failure(problem)
        break
    return status, data, elapsed_ms


STARTED_BY = 0.5  # seconds Locust takes to start a hundred users, during which it times badly
ARRIVED_BY = 1.0  # seconds before the open by which every user has sent its first request


def arrival_delay(now: float, opens_at: float) -> float:
    """Seconds a user waits before its first request: uniform over the time left before the open."""
    first, last = now + STARTED_BY, max(now + STARTED_BY, opens_at - ARRIVED_BY)
    return random.uniform(first, last) - now


def wait_for(client: FastHttpSession, opens_at: float, ready: tuple[str, ...]) -> None:
    """Polls the drop about once a second until a phase in `ready`, waking exactly at `opens_at`."""
    while True:
        status, drop, _ = call(client, "GET", DROP_PATH, "/api/drops/[id]")
        phase = drop.get("phase") if status == 200 and isinstance(drop, dict) else None
        if phase == "ended":
            raise StopUser()
        if phase in ready or (phase is not None and phase not in WAITING_PHASES):
            return
        gevent.sleep(max(0.0, min(random.uniform(0.5, 1.5), opens_at - time.time())))
        if time.time() >= opens_at:
            return  # buyers click by the clock; a not_open answer is expected if it is early


def settle(client: FastHttpSession, buyer: Account, order: OrderJson) -> None:
    """Pay (after a moment's thought), cancel, or walk away, as the plan's ratios say."""
    roll = random.random()
    order_id = order["id"]
    if roll < PLAN.cancel_ratio:
        call(client, "POST", f"/api/orders/{order_id}/cancel", "/api/orders/[id]/cancel", buyer)
        return
    if roll < PLAN.cancel_ratio + PLAN.leave_ratio:
        if PLAN.provider != "test" and random.random() < 0.5:
            # Opens the provider's page and walks away: at pay_by the service must close it there first.
            call(client, "POST", f"/api/orders/{order_id}/pay", "/api/orders/[id]/pay", buyer,
                 {"provider": PLAN.provider}, check=_has_payment)
        return
    gevent.sleep(random.uniform(0.05, 0.2))
    if PLAN.provider != "test":
        pay_at_provider(client, buyer, order_id)
        return
    status, paid, _ = call(client, "POST", f"/api/orders/{order_id}/pay", "/api/orders/[id]/pay", buyer,
                           {"payment_token": "test_ok"}, check=_is_paid)
    if status == 200 and is_order(paid) and paid["status"] == "paid":
        TALLY.paid_orders.append(order_id)
        token = share_token(paid.get("share_url"))
        if token:
            TALLY.share_links += 1
            Shared.share_tokens.append(token)


def pay_at_provider(client: FastHttpSession, buyer: Account, order_id: str) -> None:
    """Begins the provider's payment, then completes it where the buyer would: Stripe.js's confirm with
    the publishable key, or the Alipay wallet's pay. The order turns paid with the signed notice."""
    status, started, _ = call(client, "POST", f"/api/orders/{order_id}/pay", "/api/orders/[id]/pay", buyer,
                              {"provider": PLAN.provider}, check=_has_payment)
    payment = started.get("payment") if status == 200 and isinstance(started, dict) else None
    if not isinstance(payment, dict):
        return
    name = f"{PLAN.provider}: buyer completes the payment"
    if PLAN.provider == "stripe":
        context = client.request(
            "POST", f"{PLAN.provider_base}/v1/payment_intents/{payment.get('intent_id')}/confirm", name=name,
            data={"payment_method": "pm_card_visa", "client_secret": payment.get("client_secret")},
            headers={"Authorization": f"Bearer {PLAN.stripe_publishable_key}"}, catch_response=True)
    else:
        context = client.request("POST", f"{PLAN.provider_base}/_fake/pay", name=name,
                                json={"url": payment.get("redirect_url")}, catch_response=True)
    with context as answer:
        if answer.status_code == 200:
            TALLY.confirmed_orders.append(order_id)
            answer.success()
        else:
            answer.failure(f"the provider answered {answer.status_code}")


def _has_payment(status: int, data: Any) -> str | None:
    payment = data.get("payment") if isinstance(data, dict) else None
    ok = isinstance(payment, dict) and payment.get("status") in ("pending", "succeeded", "failed")
    return None if ok or (isinstance(data, dict) and data.get("status") == "paid") else "pay began no payment"


def _is_paid(status: int, data: Any) -> str | None:
    return None if isinstance(data, dict) and data.get("status") == "paid" else "pay answered without paid"


def has_codes(_: int, data: Any) -> str | None:
    return None if isinstance(data, dict) and data.get("codes") else "claim answered no codes"


def share_token(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    path = urlsplit(url).path
    return path[3:] if path.startswith("/s/") and len(path) > 3 else None


def choose_variant() -> str | None:
    """On a drop with variants, the one a buyer picks: any still shown on sale, else any at all (units
    that come back go to whoever asks first)."""
    if not PLAN.variants:
        return None
    on_sale = [sku for sku in PLAN.variants if sku not in Shared.sold_out_variants]
    return random.choice(on_sale or PLAN.variants)


def buy(client: FastHttpSession, buyer: Account, body: PurchaseBody, name: str) -> OrderJson | None:
    """One purchase with a fresh Idempotency-Key (of a variant the buyer chose, on a drop with
    variants); the order when it took a unit."""
    key = uuid.uuid4().hex
    at = time.time()
    if name == PURCHASE:
        TALLY.attempt(at)
    variant = choose_variant()
    if variant is not None:
        body = {**body, "variant": variant}

    def of_variant(_: int, taken: Any) -> str | None:
        ok = variant is None or (isinstance(taken, dict) and taken.get("variant") == variant)
        return None if ok else "the order is not of the variant chosen"

    status, order, elapsed_ms = call(client, "POST", f"{DROP_PATH}/purchase", name, buyer, body,
                                     {"Idempotency-Key": key}, check=of_variant)
    if variant is not None and status == 409 and isinstance(order, dict) and order.get("code") == "sold_out":
        Shared.sold_out_variants.add(variant)
    if status != 201 or not is_order(order):
        return None
    TALLY.unit(at, elapsed_ms)
    # A double click on an F-code or a friend's link is likelier than on the plain button, and rarer.
    if random.random() < (PLAN.retry_ratio if name == PURCHASE else max(PLAN.retry_ratio, 0.25)):
        def same_order(_: int, again: Any) -> str | None:
            if isinstance(again, dict) and again.get("id") == order["id"]:
                return None
            TALLY.idempotency_mismatches += 1
            return "retry with the same Idempotency-Key answered another order"

        call(client, "POST", f"{DROP_PATH}/purchase", PURCHASE_RETRY, buyer, body, {"Idempotency-Key": key},
             check=same_order)
    return order
