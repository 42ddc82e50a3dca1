"""`flashsale loadtest --draw`: a draw rehearsed through the API.

N accounts enter a draw drop during its window; the draw is made; the published ranks are recomputed
from the seed and entries.txt (and the seed checked against the commitment); winners buy and pay
(a share of them walk away, so their wins lapse), backups whose turn comes buy and pay in turn; then
the checks: every rank recomputes, no unit was sold twice (stock = remaining + reserved + paid, paid
units = purchases the rehearsal paid), and every win was bought, lapsed to a backup, or returned."""
from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from loadtest.plan import Account

Say = Callable[[str], None]
CONCURRENCY = 64


@dataclass(frozen=True, slots=True)
class DrawPlan:
    stock: int
    backups: int
    pay_window: int
    lead: float         # seconds from creating the drop to the draw (entries open at once)
    leave_ratio: float  # winners who walk away (their wins lapse to backups)
    run_id: str


@dataclass
class DrawRun:
    client: httpx.AsyncClient
    operator: dict[str, str]
    plan: DrawPlan
    say: Say
    path: str = ""
    drop_id: int = 0
    failures: list[str] = field(default_factory=list)
    limit: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONCURRENCY))

    async def call(self, method: str, url: str, account: Account, **kwargs: Any) -> httpx.Response:
        async with self.limit:
            return await self.client.request(method, url, headers={"Authorization": f"Bearer {account.token}"},
                                             **kwargs)

    async def create(self) -> None:
        now, p = datetime.now(UTC), self.plan
        body = {"sku": f"lt-draw-{p.run_id}", "name": f"Draw rehearsal {p.run_id}", "price_cents": 19900,
                "currency": "CNY", "stock": p.stock, "mode": "draw", "backups": p.backups,
                "entries_open_at": (now - timedelta(seconds=1)).isoformat(),
                "entries_close_at": (now + timedelta(seconds=p.lead)).isoformat(), "pay_window_seconds": p.pay_window}
        created = await self.client.post("/api/admin/drops", json=body, headers=self.operator)
        if created.status_code != 201:
            raise RuntimeError(f"creating the draw answered {created.status_code}: {created.text[:300]}")
        self.drop_id = created.json()["id"]
        self.path = f"/api/drops/{self.drop_id}"
        self.say(f"draw drop {self.drop_id}: {p.stock} units, {p.backups} backups, entries close in {p.lead:.0f} s")

    async def enter(self, accounts: list[Account]) -> dict[str, Account]:
        started = time.monotonic()
        answers = await asyncio.gather(*(self.call("PUT", f"{self.path}/entry", a, json={}) for a in accounts))
        took = time.monotonic() - started
        self.say(f"entered: {sum(r.status_code == 200 for r in answers)} of {len(accounts)} in {took:.1f} s "
                 f"({len(accounts) / took:.0f}/s), answers {dict(Counter(r.status_code for r in answers))}")
        return {r.json()["id"]: a for a, r in zip(accounts, answers, strict=True) if r.status_code == 200}

    async def drawn(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.plan.lead + 60
        while time.monotonic() < deadline:
            draw: dict[str, Any] = (await self.client.get(f"{self.path}/draw")).json()
            if draw.get("seed"):
                return draw
            await asyncio.sleep(0.5)
        raise RuntimeError("the draw was not made within a minute of its time")

    async def results(self) -> dict[str, tuple[int, str]]:
        text = (await self.client.get(f"{self.path}/draw/results.txt")).text
        return {eid: (int(rank), status) for eid, rank, status in (line.split() for line in text.splitlines())}

    async def recompute(self, draw: dict[str, Any], entries: dict[str, Account]) -> dict[str, int]:
        if hashlib.sha256(bytes.fromhex(draw["seed"])).hexdigest() != draw["commitment"]:
            self.failures.append("the seed does not hash to the commitment")
        ids = (await self.client.get(f"{self.path}/draw/entries.txt")).text.split()
        scored = sorted((hashlib.sha256(f"{draw['seed']}:{eid}".encode()).hexdigest(), eid) for eid in ids)
        ranks = {eid: n for n, (_, eid) in enumerate(scored, start=1)}
        published = {eid: rank for eid, (rank, _) in (await self.results()).items()}
        if published != ranks:
            self.failures.append(f"{sum(published.get(e) != r for e, r in ranks.items())} ranks do not recompute")
        if set(ids) != set(entries):
            self.failures.append("entries.txt does not list exactly the entries made")
        self.say(f"draw made: {draw['entries']} entries, {draw['winners']} winners, {draw['backups']} backups; "
                 f"{len(ranks)} ranks recomputed from the seed and entries.txt")
        return ranks

    async def buy(self, account: Account, buy_until: str) -> bool:
        order = await self.call("POST", f"{self.path}/purchase", account, json={"quantity": 1})
        if order.status_code != 201:
            if datetime.fromisoformat(buy_until.replace("Z", "+00:00")) > datetime.now(UTC) + timedelta(seconds=1):
                self.failures.append(f"a winner's purchase answered {order.status_code} {order.text[:120]}")
            return False  # (or its time ran out meanwhile: the win lapses)
        paid = await self.call("POST", f"/api/orders/{order.json()['id']}/pay", account,
                               json={"payment_token": "test_ok"})
        return paid.status_code == 200

    async def buy_as_winners(self, entries: dict[str, Account], leavers: set[int], winners: int) -> set[int]:
        """Polls every entry still open; each standing win buys and pays (leavers' wins lapse)."""
        bought: set[int] = set()
        waiting = set(entries)
        rounds = 2 + self.plan.backups // max(1, winners)
        end = time.monotonic() + self.plan.pay_window * rounds + 10
        while waiting and time.monotonic() < end:  # until every win was bought or lapsed
            polled = list(waiting)
            found = await asyncio.gather(*(self.call("GET", f"{self.path}/entry", entries[e]) for e in polled))
            buying: list[tuple[Account, str]] = []
            for eid, answer in zip(polled, found, strict=True):
                entry, account = answer.json(), entries[eid]
                if entry.get("status") in ("lost", "lapsed", "bought"):
                    waiting.discard(eid)
                elif entry.get("status") == "won" and account.id not in leavers | bought:
                    buying.append((account, entry["buy_until"]))
            done = await asyncio.gather(*(self.buy(account, until) for account, until in buying))
            bought.update(account.id for (account, _), ok in zip(buying, done, strict=True) if ok)
            await asyncio.sleep(1.0)
        return bought

    async def check(self, draw: dict[str, Any], ranks: dict[str, int], entries: dict[str, Account],
                    bought: set[int], leavers: set[int]) -> None:
        stats = (await self.client.get(f"/api/admin/drops/{self.drop_id}/stats", headers=self.operator)).json()
        if stats["remaining"] + stats["reserved"] + stats["paid"] != stats["stock"]:
            self.failures.append(f"units do not add up: {stats}")
        if stats["paid"] != len(bought):
            self.failures.append(f"{stats['paid']} units paid, {len(bought)} purchases paid by the rehearsal")
        final = {eid: status for eid, (_, status) in (await self.results()).items()}
        winners = int(draw["winners"] or 0)
        turns = sum(1 for eid, s in final.items() if ranks[eid] > winners and s in ("won", "lapsed"))
        lapsed = sum(1 for s in final.values() if s == "lapsed")
        unbought = [e for e, s in final.items() if s == "won" and entries[e].id not in bought | leavers]
        if unbought:
            self.failures.append(f"{len(unbought)} standing wins were neither bought nor lapsed")
        if turns < min(lapsed, int(draw["backups"] or 0)):
            self.failures.append(f"{lapsed} wins lapsed but only {turns} backups got a turn")
        self.say(f"bought and paid: {len(bought)}; lapsed: {lapsed}; backups whose turn came: {turns}; "
                 f"winners who walked away on purpose: {len(leavers)}")
        self.say(f"stats: {({k: stats[k] for k in ('stock', 'remaining', 'reserved', 'paid')})}")


async def rehearse_draw(host: str, operator_token: str, accounts: list[Account], plan: DrawPlan, say: Say) -> int:
    async with httpx.AsyncClient(base_url=host, timeout=60) as client:
        run = DrawRun(client, {"Authorization": f"Bearer {operator_token}"}, plan, say)
        try:
            await run.create()
            entries = await run.enter(accounts)
            draw = await run.drawn()
        except RuntimeError as exc:
            say(f"FAIL: {exc}")
            return 1
        ranks = await run.recompute(draw, entries)
        winners = int(draw["winners"] or 0)
        first = sorted(ranks, key=ranks.__getitem__)[:winners]
        leavers = {entries[e].id for e in first if random.random() < plan.leave_ratio}
        bought = await run.buy_as_winners(entries, leavers, winners)
        await run.check(draw, ranks, entries, bought, leavers)
    for failure in run.failures:
        say(f"FAIL: {failure}")
    say("PASS: ranks recompute, no unit sold twice, every win bought, lapsed to a backup or returned"
        if not run.failures else f"{len(run.failures)} check(s) failed")
    return 0 if not run.failures else 1
