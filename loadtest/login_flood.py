"""A page's latency while logins flood the server, and the sign-in rates the limits allow.

`python -m loadtest.login_flood` starts `flashsale serve` (embedded defaults, a temporary directory,
the real limits; `FLASHSALE_TRUSTED_PROXIES=127.0.0.1` so the flood can come from many client
addresses through X-Forwarded-For, as a distributed one would), then prints:

1. GET /api/drops latency (p50/p99) idle, then under a flood of POST /api/auth/token from
   `--flooders` concurrent clients, each attempt from a random address, right and wrong passwords
   mixed; the flood's answers by status and the password checks it got per second;
2. the limits measured from outside: attempts one address gets per minute, failures one account
   and address pair gets before its lock, and the delay an account under attack adds.
Other processes on this machine disturb the figures: run it twice and compare.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx

from loadtest.server import LocalServer

PASSWORD = "Flood-test-password-1"


def address(rng: random.Random) -> str:
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def page_latency(client: httpx.AsyncClient, seconds: float, readers: int) -> list[float]:
    samples: list[float] = []
    deadline = time.monotonic() + seconds

    async def reader() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await client.get("/api/drops")
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            await asyncio.sleep(0.02)  # a browser's pace, not a benchmark's

    await asyncio.gather(*(reader() for _ in range(readers)))
    return samples


async def flood(client: httpx.AsyncClient, emails: list[str], seconds: float, flooders: int,
                answers: Counter[int]) -> None:
    deadline = time.monotonic() + seconds
    rng = random.Random(7)

    async def flooder() -> None:
        while time.monotonic() < deadline:
            password = PASSWORD if rng.random() < 0.3 else f"wrong-{rng.randrange(10**6)}"
            try:
                response = await client.post("/api/auth/token", headers={"X-Forwarded-For": address(rng)},
                                             data={"username": rng.choice(emails), "password": password})
                answers[response.status_code] += 1
            except httpx.TimeoutException:
                answers[0] += 1

    await asyncio.gather(*(flooder() for _ in range(flooders)))


def flood_in_own_process(url: str, emails: list[str], seconds: float, flooders: int) -> dict[int, int]:
    """The flood from a process of its own: in the readers' event loop, its 64 clients' own Python
    work would delay the readers' timers and be counted as the server's latency."""
    async def run() -> dict[int, int]:
        answers: Counter[int] = Counter()
        async with httpx.AsyncClient(base_url=url, timeout=30,
                                     limits=httpx.Limits(max_connections=flooders + 16)) as client:
            await flood(client, emails, seconds, flooders, answers)
        return dict(answers)

    return asyncio.run(run())


async def register(client: httpx.AsyncClient, count: int) -> list[str]:
    rng = random.Random(1)
    emails = [f"flood-{i}-{rng.randrange(10**9)}@example.com" for i in range(count)]
    for email in emails:  # one at a time: each is an Argon2 hash
        response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD},
                                     headers={"X-Forwarded-For": address(rng)})
        assert response.status_code == 201, response.text
    return emails


async def limits(client: httpx.AsyncClient, emails: list[str]) -> list[str]:
    """The limits as an outsider meets them."""
    lines = []
    one = "192.0.2.10"
    statuses = [(await client.post("/api/auth/token", headers={"X-Forwarded-For": one},
                                   data={"username": emails[i % len(emails)], "password": PASSWORD})).status_code
                for i in range(30)]
    allowed = statuses.index(429) if 429 in statuses else len(statuses)
    lines.append(f"one address, any accounts: {allowed} sign-in attempts, then 429 for the rest of the minute")
    pair = "192.0.2.11"
    statuses = [(await client.post("/api/auth/token", headers={"X-Forwarded-For": pair},
                                   data={"username": emails[0], "password": "wrong-password-x"})).status_code
                for _ in range(15)]
    failures = statuses.index(429) if 429 in statuses else len(statuses)
    lines.append(f"one account from one address: {failures} wrong passwords, then that pair is locked "
                 "(429 for the window; the owner elsewhere is not)")
    rng = random.Random(3)
    waits = []
    for _ in range(16):  # a distributed guesser on one account: every attempt from another address
        started = time.perf_counter()
        await client.post("/api/auth/token", headers={"X-Forwarded-For": address(rng)},
                          data={"username": emails[1], "password": "wrong-password-y"})
        waits.append(time.perf_counter() - started)
    started = time.perf_counter()
    owner = await client.post("/api/auth/token", headers={"X-Forwarded-For": address(rng)},
                              data={"username": emails[1], "password": PASSWORD})
    lines.append(f"one account from 16 addresses: attempt times {waits[0]:.2f}s ... {waits[-1]:.2f}s "
                 f"(slowed, never locked); the owner then: {owner.status_code} in {time.perf_counter() - started:.2f}s")
    return lines


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="flashsale-flood-"))
    server = LocalServer(work, workers=args.workers, env={
        "FLASHSALE_TRUSTED_PROXIES": "127.0.0.1", "FLASHSALE_REGISTER_PER_ADDRESS_PER_HOUR": "20",
        "FLASHSALE_LOGIN_PER_ADDRESS_PER_MINUTE": "20", "FLASHSALE_MAX_UNPAID_PER_ADDRESS": "4"})
    server.start()
    try:
        limits_http = httpx.Limits(max_connections=args.flooders + 16)
        # The readers keep their own connections: the flood's pool must not queue them.
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits_http) as client, \
                httpx.AsyncClient(base_url=server.url, timeout=30) as reader:
            emails = await register(client, args.accounts)
            await page_latency(reader, 2, 2)  # warm-up
            idle = quantiles(await page_latency(reader, args.seconds, args.readers))
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                pool.submit(int).result()  # the process is up before the clock starts
                started = time.monotonic()
                flooding = asyncio.get_running_loop().run_in_executor(
                    pool, flood_in_own_process, server.url, emails, args.seconds, args.flooders)
                flooded_samples, answered = await asyncio.gather(
                    page_latency(reader, args.seconds, args.readers), flooding)
                elapsed = time.monotonic() - started
            answers = Counter(answered)
            flooded = quantiles(flooded_samples)
            await asyncio.sleep(1)
            after = quantiles(await page_latency(reader, args.seconds, args.readers))  # the machine's drift
            limit_lines = await limits(client, emails)
    finally:
        server.stop()
    checked = answers[200] + answers[401]
    print(f"\nflashsale serve --workers {args.workers}; GET /api/drops by {args.readers} readers, "
          f"{args.seconds:.0f} s each (this machine is shared: figures are disturbed)")
    print(f"  idle:             p50 {idle[0]:7.1f} ms   p99 {idle[1]:7.1f} ms")
    print(f"  under login flood: p50 {flooded[0]:7.1f} ms   p99 {flooded[1]:7.1f} ms   "
          f"(x{flooded[0] / idle[0]:.2f} p50, x{flooded[1] / idle[1]:.2f} p99)")
    print(f"  idle again:        p50 {after[0]:7.1f} ms   p99 {after[1]:7.1f} ms")
    print(f"  flood: {args.flooders} clients, {sum(answers.values())} attempts in {elapsed:.1f} s; answers "
          f"{dict(sorted(answers.items()))}; passwords checked {checked / elapsed:.1f}/s")
    print("limits met from outside:")
    for line in limit_lines:
        print("  " + line)
    print(f"within 2x of idle: p50 {'yes' if flooded[0] <= 2 * idle[0] else 'NO'}, "
          f"p99 {'yes' if flooded[1] <= 2 * idle[1] else 'NO'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--flooders", type=int, default=64)
    parser.add_argument("--accounts", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
