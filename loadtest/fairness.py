"""Bots against humans: `flashsale loadtest --bots N`. The same crowd meets two drops of the same
stock, one opening to whoever's request lands first and one behind the waiting room, and the report
gives each drop's fairness ratio: bots' share of the units won / bots' share of the participants
(1.0 is fair; above it, scripts beat people).

- Humans arrive at random over the last `lead` seconds before the open (the pre-queue window). On a
  plain drop they load the page, then click buy when it opens, after a human reaction time. Behind
  the waiting room they join on arrival (solving the ALTCHA challenge as a browser would, a little
  slower than a machine), keep the page open (a poll every 1-2 s), and click buy after a reaction
  time once admitted.
- Bots are scripts: on a plain drop they fire at the exact opening instant with no think time and
  hammer until they win or it is sold out; behind the waiting room they join the moment the room
  lets them (solving the challenge as fast as this machine can), poll twice a second and buy the
  instant they are admitted.
Winners pay at once, so no unit comes back during a run. Each simulated person sends its own client
address (X-Forwarded-For, honoured for the generator's loopback address by the server started here):
per-address limits do not decide the outcome; the shuffle does.
"""
from __future__ import annotations

import asyncio
import hashlib
import math
import random
import struct
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import altcha
import httpx

from loadtest.fairness_report import RoundResult
from loadtest.plan import Account
from loadtest.provision import DropSpec, Say, create_drop, epoch

HUMAN_POLL_SECONDS = (1.0, 2.0)
# Before the open a place is not drawn yet and a poll only keeps the ticket alive: the simulated
# humans poll less then, so that one generator process keeps up with 500 of them.
HUMAN_PREQUEUE_POLL_SECONDS = (4.0, 6.0)
BOT_POLL_SECONDS = 0.5
HUMANS_DONE_BEFORE = 5.0  # seconds before the open the last human arrives


@dataclass(frozen=True, slots=True)
class RoundPlan:
    """Each drop of a round: its stock, the pre-queue window the humans arrive over, the room's rate."""

    stock: int
    lead: float  # seconds
    admit_per_second: int


@dataclass
class Participant:
    account: Account
    bot: bool
    address: str
    arrives_at: float = 0.0
    won: bool = False
    late: bool = False  # joined the waiting room after the open (behind the pre-queue)
    answers: dict[str, int] = field(default_factory=dict)


class Crowd:
    def __init__(self, client: httpx.AsyncClient, drop: dict[str, Any], solvers: Executor, say: Say) -> None:
        self.client = client
        self.solvers = solvers  # processes: the generator's event loop keeps its own core
        self.drop = drop
        self.path = f"/api/drops/{drop['id']}"
        self.opens = epoch(drop["starts_at"])
        self.sold_out = asyncio.Event()
        self.say = say

    async def send(self, who: Participant, method: str, path: str, body: Any = None) -> httpx.Response | None:
        headers = {"Authorization": f"Bearer {who.account.token}", "X-Forwarded-For": who.address}
        try:
            response = await self.client.request(method, self.path + path, json=body, headers=headers)
        except httpx.HTTPError:
            who.answers["transport_error"] = who.answers.get("transport_error", 0) + 1
            return None
        code = str(response.status_code)
        if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
            code += " " + str(response.json().get("code", ""))
        who.answers[f"{method} {path or '/'} {code}"] = who.answers.get(f"{method} {path or '/'} {code}", 0) + 1
        return response

    async def purchase(self, who: Participant) -> str:
        """"won", "sold_out", or the refusal code to react to."""
        response = await self.send(who, "POST", "/purchase", {"quantity": 1})
        if response is None:
            return "retry"
        if response.status_code == 201:
            who.won = True
            order = response.json()
            paid = await self.client.post(f"/api/orders/{order['id']}/pay", json={"payment_token": "test_ok"},
                                          headers={"Authorization": f"Bearer {who.account.token}"})
            if paid.status_code != 200:
                who.answers["pay_failed"] = who.answers.get("pay_failed", 0) + 1
            return "won"
        code = str(response.json().get("code", "")) if response.content else ""
        if code == "sold_out":
            self.sold_out.set()
        return code or "retry"

    async def sleep_until(self, moment: float) -> None:
        await asyncio.sleep(max(0.0, moment - time.time()))

    # -- a plain drop ------------------------------------------------------------------------------
    async def human_plain(self, who: Participant) -> None:
        await self.sleep_until(who.arrives_at)
        await self.send(who, "GET", "")  # the page
        await self.sleep_until(self.opens + reaction())
        while not self.sold_out.is_set():
            outcome = await self.purchase(who)
            if outcome in ("won", "sold_out", "limit_reached"):
                return
            await asyncio.sleep(reaction())  # a human clicks again after a moment

    async def bot_plain(self, who: Participant) -> None:
        await self.sleep_until(who.arrives_at)
        await self.send(who, "GET", "")  # a warm connection for the shot
        await self.sleep_until(self.opens - 0.002)
        while not self.sold_out.is_set():
            outcome = await self.purchase(who)
            if outcome in ("won", "sold_out", "limit_reached"):
                return
            await asyncio.sleep(0.01 if outcome in ("not_open", "retry") else 0.05)

    # -- behind the waiting room -------------------------------------------------------------------
    async def join(self, who: Participant, human: bool) -> bool:
        while True:
            challenge = await self.send(who, "GET", "/queue/challenge")
            if challenge is None or challenge.status_code != 200:
                return False
            payload = await asyncio.get_running_loop().run_in_executor(self.solvers, solve, challenge.json())
            if human:  # the widget in a phone's browser: a second or two of work, and a tap
                await asyncio.sleep(random.uniform(0.8, 3.0))
            joined = await self.send(who, "POST", "/queue", {"altcha": payload})
            if joined is not None and joined.status_code == 200:
                who.late = joined.json().get("position") is not None  # places exist only after the draw
                return True
            if joined is None or joined.status_code not in (429, 403):
                return False
            await asyncio.sleep(1.0)

    async def queued(self, who: Participant, human: bool) -> None:
        await self.sleep_until(who.arrives_at)
        if not await self.join(who, human):
            return
        while True:
            response = await self.send(who, "GET", "/queue")
            ticket = response.json() if response is not None and response.status_code == 200 else {}
            status = ticket.get("status")
            if status == "admitted":
                if human:
                    await asyncio.sleep(reaction())
                outcome = await self.purchase(who)
                if outcome != "retry":
                    return
            elif status in ("done", "expired") or (status == "sold_out" and time.time() > self.opens + 5):
                return
            if not human:
                await asyncio.sleep(BOT_POLL_SECONDS)
            elif time.time() < self.opens:
                await asyncio.sleep(min(random.uniform(*HUMAN_PREQUEUE_POLL_SECONDS),
                                        max(0.0, self.opens - time.time()) + random.uniform(*HUMAN_POLL_SECONDS)))
            else:
                await asyncio.sleep(random.uniform(*HUMAN_POLL_SECONDS))


def reaction() -> float:
    """A person's time from seeing the button to the click: about a second, rarely much longer."""
    return min(8.0, random.lognormvariate(0.0, 0.6))


def solve(challenge: dict[str, Any]) -> str:
    """As fast as this machine can: for the server's one-round SHA-256 challenges a tight hashlib loop
    (several times the library's generic solver), else the library's."""
    parsed = altcha.Challenge.from_dict(challenge)
    params = parsed.parameters
    solution: altcha.Solution | None
    if params.algorithm == "SHA-256" and params.cost == 1 and params.key_length == 32:
        base = hashlib.sha256(bytes.fromhex(params.salt) + bytes.fromhex(params.nonce))
        prefix = bytes.fromhex(params.key_prefix)
        pack, size = struct.Struct(">I").pack, len(prefix)
        counter = 0
        while True:
            attempt = base.copy()
            attempt.update(pack(counter))
            digest = attempt.digest()
            if digest[:size] == prefix:
                solution = altcha.Solution(counter, digest.hex())
                break
            counter += 1
    else:
        solution = altcha.solve_challenge(parsed)
    if solution is None:
        raise RuntimeError("the challenge was not solved in time")
    return altcha.Payload(parsed, solution).to_base64()


async def run_round(client: httpx.AsyncClient, operator_token: str, run_id: str, people: list[Participant], *,
                    waiting_room: bool, plan: RoundPlan, solvers: Executor, say: Say) -> RoundResult:
    stock, lead = plan.stock, plan.lead
    opens = time.time() + lead
    drop = await create_drop(client, operator_token, DropSpec(
        run_id=f"{run_id}-{'room' if waiting_room else 'plain'}", stock=stock, per_user_limit=1, starts_at=opens,
        priority_minutes=0, pay_window_seconds=1800, duration=120,
        extra={"waiting_room": waiting_room, "challenge": True, "prequeue_minutes": max(1, math.ceil(lead / 60)),
               "admit_per_second": plan.admit_per_second}))
    crowd = Crowd(client, drop, solvers, say)
    opens = crowd.opens
    first_arrival = max(time.time() + 0.5, opens - lead)
    for who in people:
        who.won, who.late, who.answers = False, False, {}
        # Bots are there from the first moment; on a plain drop, five seconds ahead is soon enough.
        bot_arrival = first_arrival if waiting_room else max(first_arrival, opens - 5)
        # Humans arrive over the window until a few seconds before the open: the pre-queue here is
        # compressed to a minute, and in a real one of 15 hardly anyone arrives in its last seconds.
        who.arrives_at = bot_arrival if who.bot else random.uniform(first_arrival, opens - HUMANS_DONE_BEFORE)
    say(f"  drop {drop['id']} ({'waiting room' if waiting_room else 'no waiting room'}): {stock} units, "
        f"{sum(not p.bot for p in people)} humans arriving over {opens - first_arrival:.0f} s, "
        f"{sum(p.bot for p in people)} bots")
    started = time.monotonic()
    if waiting_room:
        tasks = [crowd.queued(p, human=not p.bot) for p in people]
    else:
        tasks = [(crowd.bot_plain if p.bot else crowd.human_plain)(p) for p in people]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=lead + 180)
    answers: dict[str, int] = {}
    for who in people:
        for key, count in who.answers.items():
            answers[key] = answers.get(key, 0) + count
    stats = await client.get(f"/api/admin/drops/{drop['id']}/stats",
                             headers={"Authorization": f"Bearer {operator_token}"})
    return RoundResult(waiting_room, int(drop["id"]), stock, sum(p.won for p in people),
                       sum(p.won and p.bot for p in people), sum(p.bot for p in people), len(people),
                       time.monotonic() - started, dict(sorted(answers.items())),
                       late_humans=sum(p.late and not p.bot for p in people),
                       late_bots=sum(p.late and p.bot for p in people),
                       queue=stats.json().get("queue") if stats.status_code == 200 else None)


async def fairness(host: str, operator_token: str, run_id: str, humans: list[Account], bots: list[Account], *,
                   plan: RoundPlan, rounds: int, say: Say) -> list[RoundResult]:
    people = [Participant(a, False, f"10.{i // 65_000 % 250}.{i // 250 % 250}.{i % 250 + 1}")
              for i, a in enumerate(humans)]
    people += [Participant(a, True, f"172.16.{i // 250}.{i % 250 + 1}") for i, a in enumerate(bots)]
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    results = []
    with ProcessPoolExecutor(max_workers=2) as solvers:
        async with httpx.AsyncClient(base_url=host, timeout=30, limits=limits) as client:
            for round_no in range(rounds):
                for waiting_room in (False, True):
                    results.append(await run_round(client, operator_token, f"{run_id}-{round_no}", people,
                                                   waiting_room=waiting_room, plan=plan, solvers=solvers, say=say))
    return results
