"""Locust scenarios of a drop, driven through the public API (shared/API.md).

- BuyerUser: the Tuesday rush. Buyers poll the drop until the open, then buy (one unit, with an
  Idempotency-Key, sometimes sent twice like a double click), then pay within the window, cancel
  (the unit returns at once) or walk away (it returns when the pay window ends). Purchases are paced
  so that all buyer users together attempt `units_per_second`.
- FcodeHolderUser (only with --fcode-holders): employees claim this month's F-codes in the priority
  window, buy with one and give the other to a friend, who buys with it.
- FriendUser (only with --friends): friends open the share links of paid orders, then buy with `ref`.
- BrowserUser: the crowd refreshing the list of drops.

409 sold_out / limit_reached, 403 not_open and any 429 are answers a sale gives under load: Locust
counts them as successes, the tally counts them by code. 5xx and anything unexpected are failures.
Run by `flashsale loadtest`, which writes the plan this module reads (FLASHSALE_LOADTEST_PLAN).
"""
from __future__ import annotations

import random
import time

import gevent
from locust import FastHttpUser, SequentialTaskSet, between, task
from locust.exception import StopUser

from loadtest.actions import PLAN, Pacer, Shared, arrival_delay, buy, call, has_codes, settle, wait_for
from loadtest.order import OrderJson
from loadtest.plan import Account
from loadtest.tally import PURCHASE, PURCHASE_FCODE, PURCHASE_REF


class BaseUser(FastHttpUser):
    abstract = True
    network_timeout = 15.0
    connection_timeout = 5.0
    concurrency = 50  # connections per user: its buyers' payments overlap the next purchases

    def on_start(self) -> None:
        # Fans arrive over the seconds before an open, not in one millisecond. Locust starts every
        # user at once, and requests sent while it is still starting them are timed by a busy
        # generator (first polls ~90 ms here, 2-4 ms from the server's side): each user's first
        # request waits for its own random arrival, after the start and before the (priority) open.
        gevent.sleep(arrival_delay(time.time(), PLAN.priority_starts_at))


class BuyerFlow(SequentialTaskSet):
    """One buyer's turn per cycle: look (wait for the open), buy, settle; cycles are paced."""

    def on_start(self) -> None:
        self.pause = 0.0
        self.pacer = Pacer(PLAN.period)
        self.buyer: Account | None = None
        self.order: OrderJson | None = None

    def wait_time(self) -> float:
        pause, self.pause = self.pause, 0.0
        return pause

    @task
    def look(self) -> None:
        self.buyer = Shared.buyers.next()
        self.order = None
        if self.buyer is None:
            raise StopUser()
        if self.pacer.next_at is None:
            wait_for(self.client, PLAN.starts_at, ("open", "sold_out"))
            self.pause = self.pacer.first()

    @task
    def purchase(self) -> None:
        assert self.buyer is not None
        self.order = buy(self.client, self.buyer, {"quantity": 1}, PURCHASE)

    @task
    def pay_or_abandon(self) -> None:
        if self.order is not None and self.buyer is not None:
            # An open model: a slow payment must not delay the next buyer's arrival at the button.
            Shared.settling.spawn(settle, self.client, self.buyer, self.order)
        self.pause = self.pacer.next()


class BuyerUser(BaseUser):
    fixed_count = PLAN.buyer_users
    tasks = [BuyerFlow]


class FcodeFlow(SequentialTaskSet):
    """An employee in the priority window: claim the month's codes, buy with one, give one away."""

    def on_start(self) -> None:
        self.pause = 0.0
        self.employee: Account | None = None
        self.codes: list[str] = []

    def wait_time(self) -> float:
        pause, self.pause = self.pause, 0.0
        return pause

    @task
    def claim(self) -> None:
        self.employee = Shared.employees.next()
        self.codes = []
        if self.employee is None:
            raise StopUser()
        wait_for(self.client, PLAN.priority_starts_at, ("priority", "open", "sold_out"))
        status, data, _ = call(self.client, "POST", "/api/fcodes/claim", "/api/fcodes/claim", self.employee,
                               check=has_codes)
        if status == 200 and isinstance(data, dict):
            self.codes = [c["code"] if isinstance(c, dict) else str(c) for c in data.get("codes", [])]

    @task
    def buy_with_code(self) -> None:
        if self.codes and self.employee is not None:
            order = buy(self.client, self.employee, {"quantity": 1, "fcode": self.codes[0]}, PURCHASE_FCODE)
            if order is not None:
                settle(self.client, self.employee, order)

    @task
    def give_code_away(self) -> None:
        friend = Shared.buyers.next() if len(self.codes) > 1 else None
        if friend is not None:
            order = buy(self.client, friend, {"quantity": 1, "fcode": self.codes[1]}, PURCHASE_FCODE)
            if order is not None:
                settle(self.client, friend, order)
        self.pause = random.uniform(0.2, 1.0)


class FcodeHolderUser(BaseUser):
    fixed_count = PLAN.fcode_users
    tasks = [FcodeFlow]


class FriendFlow(SequentialTaskSet):
    """A friend opens a paid order's share link, then buys crediting it with `ref`."""

    def on_start(self) -> None:
        self.pause = 0.0
        self.token: str | None = None

    def wait_time(self) -> float:
        pause, self.pause = self.pause, 0.0
        return pause

    @task
    def open_link(self) -> None:
        self.token = Shared.share_tokens.popleft() if Shared.share_tokens else None
        if self.token is not None:
            call(self.client, "GET", f"/s/{self.token}", "/s/[token]")

    @task
    def buy_with_ref(self) -> None:
        friend = Shared.buyers.next() if self.token is not None else None
        if self.token is not None and friend is not None:
            # Links shared from the priority window: the friend waits for the open to buy.
            wait_for(self.client, PLAN.starts_at, ("open", "sold_out"))
            order = buy(self.client, friend, {"quantity": 1, "ref": self.token}, PURCHASE_REF)
            if order is not None:
                settle(self.client, friend, order)
        self.pause = random.uniform(0.5, 1.5)


class FriendUser(BaseUser):
    fixed_count = PLAN.friend_users
    tasks = [FriendFlow]


class BrowserUser(BaseUser):
    fixed_count = PLAN.browser_users
    wait_time = between(0.5, 1.5)

    @task
    def browse(self) -> None:
        call(self.client, "GET", "/api/drops", "/api/drops")
