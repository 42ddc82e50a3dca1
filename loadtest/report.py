"""The rehearsal's figures: achieved units/s, attempts/s, purchase latency, answers by code, time to
sell out, CPU shares; printed for the operator and written to summary.json beside Locust's reports."""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from loadtest.tally import PURCHASE, PURCHASES, Tally
from loadtest.verify import Check

PERCENTILES = ("50%", "95%", "99%")


@dataclass
class LocustRow:
    name: str
    requests: int
    failures: int
    requests_per_s: float
    percentiles_ms: dict[str, float]


def read_locust_stats(path: Path) -> dict[str, LocustRow]:
    """Locust's <prefix>_stats.csv by request name ("Aggregated" for the total)."""
    rows: dict[str, LocustRow] = {}
    if not path.exists():
        return rows
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            def num(column: str, row: dict[str, str] = row) -> float:
                value = row.get(column) or "0"
                return float(value) if value not in ("N/A", "") else 0.0

            rows[row["Name"]] = LocustRow(row["Name"], int(num("Request Count")), int(num("Failure Count")),
                                          num("Requests/s"), {p: num(p) for p in PERCENTILES})
    return rows


@dataclass
class CpuShare:
    generator: float        # share of all cores, 0..1
    server_workers: float
    redis: float
    machine: float          # everything busy on the machine, these and any other process
    cores: int
    wall_seconds: float


@dataclass
class Figures:
    target_units_per_s: float
    window_s: float
    sold_out: bool
    sell_out_s: float | None
    units: int
    units_per_s: float
    attempts: int
    attempts_per_s: float
    purchase_ms: dict[str, float]
    unit_purchase_ms: dict[str, float | None]
    purchase_requests: int
    requests: int
    requests_per_s: float
    locust_failures: int
    purchase_answers: dict[str, int]
    all_answers: dict[str, int]
    stats: dict[str, Any]
    cpu: CpuShare | None = None
    latency_by_request: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> percentile -> ms
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.ok is not False for check in self.checks)


def figures(tally: Tally, locust: dict[str, LocustRow], stats: dict[str, Any], *, starts_at: float,
            purchase_end: float, target: float) -> Figures:
    """Rates are measured from the open until sell-out, or until the end of the run when stock remained."""
    sold_out_at = stats.get("sold_out_at")
    sold_out_epoch = datetime.fromisoformat(sold_out_at).timestamp() if sold_out_at else None
    end = sold_out_epoch if sold_out_epoch is not None and sold_out_epoch < purchase_end else purchase_end
    window = max(end - starts_at, 1e-3)
    units = tally.count_between(tally.units, starts_at, end)
    attempts = tally.count_between(tally.attempts, starts_at, end)
    purchase = locust.get(PURCHASE)
    total = locust.get("Aggregated")
    return Figures(
        target_units_per_s=target, window_s=window, sold_out=sold_out_epoch is not None,
        sell_out_s=(sold_out_epoch - starts_at) if sold_out_epoch is not None else None,
        units=units, units_per_s=units / window, attempts=attempts, attempts_per_s=attempts / window,
        purchase_ms=purchase.percentiles_ms if purchase else {},
        unit_purchase_ms={p: tally.unit_percentile(float(p.rstrip("%")) / 100) for p in PERCENTILES},
        purchase_requests=sum(locust[n].requests for n in PURCHASES if n in locust),
        requests=total.requests if total else 0, requests_per_s=total.requests_per_s if total else 0.0,
        locust_failures=total.failures if total else 0, purchase_answers=tally.by_code(PURCHASES),
        all_answers=tally.by_code(), stats=stats,
        latency_by_request={name: row.percentiles_ms for name, row in sorted(locust.items()) if name != "Aggregated"})


def rate_check(result: Figures, tolerance: float) -> Check:
    floor = tolerance * result.target_units_per_s
    return Check("achieved rate", result.units_per_s >= floor,
                 f"{result.units_per_s:.1f} units/s, at least {floor:.1f} wanted "
                 f"({tolerance:.0%} of {result.target_units_per_s:g})")


def latency_check(result: Figures, max_p99_ms: float) -> Check:
    p99 = result.purchase_ms.get("99%")
    return Check("purchase p99", p99 is not None and p99 <= max_p99_ms,
                 f"p99 {p99} ms, at most {max_p99_ms:g} ms")


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g} ms"


def render(result: Figures, drop_id: int, report_dir: Path) -> str:
    s = result.stats
    lines = [f"flashsale loadtest: drop {drop_id}, {s.get('stock')} units, "
             f"target {result.target_units_per_s:g} units/s"]
    if result.sell_out_s is not None:
        lines.append(f"  sold out {result.sell_out_s:.2f} s after the open")
    else:
        lines.append(f"  not sold out: {s.get('remaining')} units left")
    lines += [
        f"  achieved        {result.units_per_s:8.1f} units/s  "
        f"({result.units} units taken in {result.window_s:.2f} s)",
        f"  attempts        {result.attempts_per_s:8.1f} /s       ({result.attempts} rush purchases)",
        "  purchase latency (all answers): " + "  ".join(f"p{p.rstrip('%')} {_ms(v)}"
                                                         for p, v in result.purchase_ms.items()),
        "  purchases that took a unit:    " + "  ".join(f"p{p.rstrip('%')} {_ms(v)}"
                                                         for p, v in result.unit_purchase_ms.items()),
        f"  requests        {result.requests} ({result.requests_per_s:.1f}/s), "
        f"Locust failures {result.locust_failures}",
        "  latency by request (Locust):",
        *(f"    {name}: " + "  ".join(f"p{p.rstrip('%')} {_ms(v)}" for p, v in ms.items())
          for name, ms in result.latency_by_request.items()),
        "  purchase answers: " + ", ".join(f"{code}: {n}" for code, n in result.purchase_answers.items()),
        "  all answers:      " + ", ".join(f"{code}: {n}" for code, n in result.all_answers.items()),
        f"  stats: remaining {s.get('remaining')}, reserved {s.get('reserved')}, paid {s.get('paid')}, "
        f"expired {s.get('expired')}, cancelled {s.get('cancelled')}, attempts {s.get('attempts')}, "
        f"rejected {s.get('rejected')}",
    ]
    if result.cpu is not None:
        c = result.cpu
        others = max(0.0, c.machine - c.generator - c.server_workers - c.redis)
        note = (f"other processes {others:.0%}" + (": figures disturbed" if others > 0.1 else "")
                if c.server_workers > 0 else "the server is not ours: not split")
        lines.append(f"  CPU over {c.wall_seconds:.1f} s of {c.cores} cores: generator {c.generator:.0%}, "
                     f"server workers {c.server_workers:.0%}, Redis {c.redis:.0%}; "
                     f"machine busy {c.machine:.0%} ({note})")
    lines.append("  checks:")
    for check in result.checks:
        mark = {True: "PASS", False: "FAIL", None: "SKIP"}[check.ok]
        lines.append(f"    {mark} {check.name}: {check.detail}")
    lines.append(f"  reports: {report_dir / 'locust.html'}, {report_dir / 'locust_stats.csv'}, "
                 f"{report_dir / 'summary.json'}")
    lines.append("  result: " + ("PASS" if result.passed else "FAIL"))
    return "\n".join(lines)


def write_summary(result: Figures, path: Path, extra: dict[str, Any]) -> None:
    data = asdict(result)
    data["passed"] = result.passed
    data.update(extra)
    path.write_text(json.dumps(data, indent=2, default=str))
