"""A small closed-loop HTTP/1.1 load generator on raw asyncio streams (keep-alive connections).

Light enough that, on a 2-core machine, most CPU stays with the server being measured. Each
connection sends its requests back to back and records status and latency per request.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import cycle


@dataclass
class Result:
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def build_requests(host: str, port: int, path: str, body: bytes, tokens: list[str]) -> list[bytes]:
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n")
    if not tokens:
        return [(head + "\r\n").encode() + body]
    return [(head + f"Authorization: Bearer {t}\r\n\r\n").encode() + body for t in tokens]


async def _read_response(reader: asyncio.StreamReader) -> int:
    header = await reader.readuntil(b"\r\n\r\n")
    status = int(header[9:12])
    length = 0
    for line in header.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


async def run(host: str, port: int, requests: list[bytes], connections: int, seconds: float,
              warmup: float = 1.0, rate: float = 0.0) -> Result:
    """Closed loop (each connection sends its next request when the answer came), or paced at `rate`
    requests per second in all (open loop: each request has its time, and its latency counts from that
    time, so a server falling behind shows as latency, not as fewer requests)."""
    result = Result()
    began = time.perf_counter()
    start_measure = began + warmup
    stop = start_measure + seconds
    gap = connections / rate if rate > 0 else 0.0

    async def connection(offset: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        rotation = cycle(requests[offset::connections] or requests)
        due = began + offset * gap / connections
        try:
            while True:
                if gap:
                    due += gap
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                sent = due if gap else time.perf_counter()
                if sent >= stop:
                    return
                writer.write(next(rotation))
                status = await _read_response(reader)
                done = time.perf_counter()
                if sent >= start_measure:
                    result.statuses[status] += 1
                    result.latencies.append(done - sent)
        finally:
            writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))
    result.seconds = seconds
    return result
