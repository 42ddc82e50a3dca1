"""What scraping /metrics costs everyone else: starts `flashsale serve` (embedded defaults, demo
store, one worker) from a source tree, sends the odd-method noise of issue 19 (1,300 requests with
methods like PROPFIND and random paths), then measures an unrelated `GET /api/drops/1` alone and
with N clients scraping /metrics in a loop. Prints the metrics text's size, the scrape time and the
GET's p50/p99.

    .venv/bin/python scripts/metrics_load.py [--root DIR] [--scrapers 4] [--seconds 8]

--root runs another checkout's code (e.g. a worktree of main) with this interpreter.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ODD = ("PROPFIND", "MKCOL", "PURGE", "LOCK", "UNLOCK", "SEARCH", "REPORT", "COPY", "MOVE", "PROPPATCH")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit("server exited")
            try:
                if (await client.get(url + "/api/drops/1")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("server did not come up")


async def noise(url: str, count: int) -> None:
    """Odd methods on every route of the API (each a 405: a new label pair where labels take the raw
    method) and on random paths."""
    async with httpx.AsyncClient(base_url=url) as client:
        paths = [path.replace("{", "").replace("}", "") for path in (await client.get("/openapi.json")).json()["paths"]]
        for i in range(count):
            path = paths[i // len(ODD) % len(paths)] if i % 4 else f"/{secrets.token_hex(8)}"
            await client.request(ODD[i % len(ODD)], path)


async def timed_gets(url: str, seconds: float) -> list[float]:
    times: list[float] = []
    async with httpx.AsyncClient(base_url=url) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await client.get("/api/drops/1")
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
            await asyncio.sleep(0.01)
    return times


async def scraper(url: str, stop: asyncio.Event, times: list[float], sizes: list[int]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            response = await client.get("/metrics")
            times.append((time.perf_counter() - started) * 1000)
            sizes.append(len(response.content))


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else (values or [0.0])[0]


async def measure(url: str, proc: subprocess.Popen[bytes], scrapers: int, seconds: float) -> None:
    await wait_up(url, proc)
    await noise(url, 1_300)
    alone = await timed_gets(url, seconds)
    stop, scrape_times, sizes = asyncio.Event(), [], []  # type: ignore[var-annotated]
    tasks = [asyncio.create_task(scraper(url, stop, scrape_times, sizes)) for _ in range(scrapers)]
    await asyncio.sleep(0.5)
    loaded = await timed_gets(url, seconds)
    stop.set()
    await asyncio.gather(*tasks)
    print(f"metrics text after 1,300 odd requests: {statistics.median(sizes) / 1024:.0f} KB")
    print(f"scrape time with {scrapers} scrapers: p50 {p(scrape_times, 50):.1f} ms, "
          f"p99 {p(scrape_times, 99):.1f} ms ({len(scrape_times)} scrapes in {seconds:.0f} s)")
    print(f"GET /api/drops/1 alone:            p50 {p(alone, 50):.1f} ms, p99 {p(alone, 99):.1f} ms "
          f"({len(alone)} requests)")
    print(f"GET /api/drops/1 with {scrapers} scrapers:   p50 {p(loaded, 50):.1f} ms, "
          f"p99 {p(loaded, 99):.1f} ms ({len(loaded)} requests)")


def run(root: Path, scrapers: int, seconds: float) -> None:
    port = free_port()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,  # noqa: S607
                            text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,  # noqa: S607
                           capture_output=True, text=True, check=False).stdout.strip()
    print(f"code: {root} (git {commit}{', with uncommitted changes' if dirty else ''})")
    with tempfile.TemporaryDirectory() as var:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHSALE_")}
        env.update({"FLASHSALE_VAR_DIR": var, "FLASHSALE_LOG_LEVEL": "warning", "PYTHONPATH": str(root)})
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=root,  # noqa: S603
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            asyncio.run(measure(f"http://127.0.0.1:{port}", proc, scrapers, seconds))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="source tree to serve (default: this one)")
    parser.add_argument("--scrapers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    run(args.root.resolve(), args.scrapers, args.seconds)


if __name__ == "__main__":
    main()
