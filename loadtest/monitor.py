"""What the orchestrator watches while Locust runs: CPU time of the generator and the server (psutil),
the stats invariant at every sample, and optionally py-spy profiles of the server's workers."""
from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from loadtest.report import CpuShare
from loadtest.verify import Check, fetch_stats

Processes = Callable[[], list[psutil.Process]]
PROJECT_PACKAGES = ("app", "sale", "codes")


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _is_redis(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(word in process.name() for word in ("valkey", "redis"))
    return False


@dataclass
class CpuMeter:
    """Sums CPU seconds per process; a process's last sample counts even after it exits."""
    generator: Processes
    server: Processes
    cores: int = field(default_factory=lambda: psutil.cpu_count() or 1)
    _seconds: dict[tuple[str, int], float] = field(default_factory=dict)
    _base: dict[tuple[str, int], float] = field(default_factory=dict)
    _busy: tuple[float, float] = (0.0, 0.0)  # machine-wide busy CPU seconds at start, at stop
    _started: float = 0.0
    _stopped: float = 0.0

    def sample(self) -> None:
        groups = [("generator", p) for p in self.generator()]
        groups += [("redis" if _is_redis(p) else "server", p) for p in self.server()]
        for group, process in groups:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                self._seconds[(group, process.pid)] = times.user + times.system

    def start(self) -> None:
        self.sample()
        self._base = dict(self._seconds)
        self._busy = (_machine_busy(), 0.0)
        self._started = time.monotonic()

    def stop(self) -> None:
        if not self._started:  # the run ended before the open: nothing measured
            return
        self.sample()
        self._busy = (self._busy[0], _machine_busy())
        self._stopped = time.monotonic()

    def share(self) -> CpuShare:
        wall = max(self._stopped - self._started, 1e-3) if self._stopped else 1e-3

        def used(group: str) -> float:
            return sum(seconds - self._base.get(key, 0.0)
                       for key, seconds in self._seconds.items() if key[0] == group)

        capacity = wall * self.cores
        machine = (self._busy[1] - self._busy[0]) / capacity if self._stopped else 0.0
        return CpuShare(generator=used("generator") / capacity, server_workers=used("server") / capacity,
                        redis=used("redis") / capacity, machine=machine, cores=self.cores, wall_seconds=wall)


class StatsWatch:
    """Polls the operator's stats: `remaining + reserved + paid == stock` must hold at every sample, for
    the drop and for each of its variants (`variants`: sku -> stock)."""

    def __init__(self, client: httpx.AsyncClient, token: str, drop_id: int, stock: int,
                 variants: dict[str, int] | None = None) -> None:
        self.client, self.token, self.drop_id, self.stock = client, token, drop_id, stock
        self.variants = variants or {}
        self.samples = 0
        self.violations: list[dict[str, Any]] = []
        self.errors = 0

    async def run(self, interval: float = 0.5) -> None:
        while True:
            try:
                stats = await fetch_stats(self.client, self.token, self.drop_id)
            except (httpx.HTTPError, ValueError):
                self.errors += 1
            else:
                self.samples += 1
                if not self._conserved(stats):
                    self.violations.append(stats)
            await asyncio.sleep(interval)

    def _conserved(self, stats: dict[str, Any]) -> bool:
        shown = stats.get("variants") or {}
        counters = [(stats, self.stock), *((shown.get(sku), stock) for sku, stock in self.variants.items())]
        return all(c is not None and int(c["remaining"]) + int(c["reserved"]) + int(c["paid"]) == stock
                   and int(c["remaining"]) >= 0 for c, stock in counters)

    def check(self) -> Check:
        per = f" (the drop and each of {len(self.variants)} variants)" if self.variants else ""
        detail = f"{self.samples} samples{per} during the run, {len(self.violations)} off"
        if self.violations:
            detail += f"; first: {self.violations[0]}"
        if self.errors:
            detail += f"; {self.errors} samples failed"
        return Check("stock conserved at every sample", not self.violations if self.samples else None, detail)


def start_profiles(pids: list[int], seconds: float,
                   report_dir: Path) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """py-spy samples of the server's workers for the run (pip install py-spy), as collapsed stacks:
    `profile-worker-<pid>.txt` (speedscope.app and flamegraph.pl read them)."""
    binary = shutil.which("py-spy")
    if binary is None:
        print("  --profile: py-spy is not installed (pip install py-spy): no profiles")
        return []
    profiles = []
    for pid in pids:
        out = report_dir / f"profile-worker-{pid}.txt"
        out.unlink(missing_ok=True)
        command = [binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
                   "--format", "raw", "--output", str(out), "--nonblocking"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        profiles.append((process, out))
    return profiles


def _frame_name(frame: str) -> str:
    """"purchase (sale/purchase.py:52)" -> "purchase (sale/purchase.py)": lines would split a function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def top_costs(paths: list[Path], limit: int = 12) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """From py-spy's collapsed stacks: the functions where CPU was spent (self share), and the project's
    own functions by inclusive share (what they and their callees cost)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_frame_name(f) for f in stack.split(";") if " (" in f]
            total += count
            for name in set(frames):
                inclusive[name] += count
            if frames:
                own[frames[-1]] += count
    if not total:
        return [], []
    ours = [(name, n / total) for name, n in inclusive.most_common()
            if any(f"{package}/" in name for package in PROJECT_PACKAGES)]
    return [(name, n / total) for name, n in own.most_common(limit)], ours[:limit]


def render_costs(paths: list[Path]) -> str:
    own, ours = top_costs([path for path in paths if path.exists()])
    if not own:
        return "  profile: no samples"
    lines = ["  server CPU by function (self, py-spy):"]
    lines += [f"    {share:6.1%}  {name}" for name, share in own]
    lines.append("  project functions (inclusive):")
    lines += [f"    {share:6.1%}  {name}" for name, share in ours]
    return "\n".join(lines)
