"""Counts the Locust processes keep beside Locust's own stats: answers by code, units taken over time,
the latency of purchases that took a unit, and the orders seen paid (for the database check).

A tally is merged across worker processes (Locust's report_to_master / worker_report events carry
`as_dict()`), so it holds only str keys, ints and lists.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TICKS_PER_SECOND = 10
PURCHASE = "POST /api/drops/[id]/purchase"
PURCHASE_RETRY = PURCHASE + " (retry)"
PURCHASE_FCODE = PURCHASE + " (fcode)"
PURCHASE_REF = PURCHASE + " (ref)"
PURCHASES = (PURCHASE, PURCHASE_FCODE, PURCHASE_REF)
# Answers that are part of a sale, not faults: the generator marks them successes, counted by code.
EXPECTED = {(409, "sold_out"), (409, "limit_reached"), (403, "not_open")}


def is_expected(status: int, code: str) -> bool:
    """2xx, the purchase refusals the contract promises under load, and any 429 are expected."""
    return 200 <= status < 300 or status == 429 or (status, code) in EXPECTED


def tick(epoch_seconds: float) -> int:
    return int(epoch_seconds * TICKS_PER_SECOND)


def latency_bucket(ms: float) -> int:
    """1 ms buckets under 100 ms, 10 ms above (the resolution of Locust's own percentiles)."""
    whole = int(ms)
    return whole if whole < 100 else whole - whole % 10


@dataclass
class Tally:
    answers: Counter[str] = field(default_factory=Counter)          # "name|status|code" -> count
    units: Counter[str] = field(default_factory=Counter)            # tick -> units taken (all purchases)
    attempts: Counter[str] = field(default_factory=Counter)         # tick -> rush purchase attempts
    unit_latency: Counter[str] = field(default_factory=Counter)     # ms bucket -> purchases that took a unit
    paid_orders: list[str] = field(default_factory=list)
    confirmed_orders: list[str] = field(default_factory=list)   # completed at the provider (async payments)
    share_links: int = 0
    idempotency_mismatches: int = 0

    def answer(self, name: str, status: int, code: str) -> None:
        self.answers[f"{name}|{status}|{code}"] += 1

    def attempt(self, at: float) -> None:
        self.attempts[str(tick(at))] += 1

    def unit(self, at: float, latency_ms: float) -> None:
        self.units[str(tick(at))] += 1
        self.unit_latency[str(latency_bucket(latency_ms))] += 1

    def as_dict(self) -> dict[str, Any]:
        return {"answers": dict(self.answers), "units": dict(self.units), "attempts": dict(self.attempts),
                "unit_latency": dict(self.unit_latency), "paid_orders": list(self.paid_orders),
                "confirmed_orders": list(self.confirmed_orders), "share_links": self.share_links,
                "idempotency_mismatches": self.idempotency_mismatches}

    def merge(self, data: dict[str, Any]) -> None:
        self.answers.update(data.get("answers", {}))
        self.units.update(data.get("units", {}))
        self.attempts.update(data.get("attempts", {}))
        self.unit_latency.update(data.get("unit_latency", {}))
        self.paid_orders.extend(data.get("paid_orders", []))
        self.confirmed_orders.extend(data.get("confirmed_orders", []))
        self.share_links += int(data.get("share_links", 0))
        self.idempotency_mismatches += int(data.get("idempotency_mismatches", 0))

    def take(self) -> dict[str, Any]:
        """This process's counts since the last call, for a report to the master; resets them."""
        data = self.as_dict()
        fresh = Tally()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tally:
        tally = cls()
        tally.merge(data)
        return tally

    # -- reading -------------------------------------------------------------------------------
    def by_code(self, names: tuple[str, ...] | None = None) -> dict[str, int]:
        """"status code" -> count over the given request names (all when None)."""
        out: Counter[str] = Counter()
        for key, count in self.answers.items():
            name, status, code = key.rsplit("|", 2)
            if names is None or name in names:
                out[f"{status} {code}".strip()] += count
        return dict(sorted(out.items()))

    def by_name(self) -> dict[str, dict[str, int]]:
        """request name -> "status code" -> count."""
        out: dict[str, Counter[str]] = {}
        for key, count in self.answers.items():
            name, status, code = key.rsplit("|", 2)
            out.setdefault(name, Counter())[f"{status} {code}".strip()] += count
        return {name: dict(sorted(codes.items())) for name, codes in sorted(out.items())}

    def server_errors(self) -> int:
        return sum(count for key, count in self.answers.items() if key.rsplit("|", 2)[1].startswith("5"))

    def count_between(self, series: Counter[str], start: float, end: float) -> int:
        first, last = tick(start), tick(end)
        return sum(count for at, count in series.items() if first <= int(at) <= last)

    def unit_percentile(self, fraction: float) -> float | None:
        total = sum(self.unit_latency.values())
        if not total:
            return None
        seen = 0
        for bucket in sorted(self.unit_latency, key=int):
            seen += self.unit_latency[bucket]
            if seen >= fraction * total:
                return float(bucket)
        return None
