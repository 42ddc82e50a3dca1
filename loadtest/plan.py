"""What the orchestrator hands the Locust processes: the drop, the accounts and the pacing.

Written as JSON to a private file named by FLASHSALE_LOADTEST_PLAN (it holds bearer tokens: it lives in
the run's temporary directory and is removed afterwards, never in the report directory).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PLAN_ENV = "FLASHSALE_LOADTEST_PLAN"
# Each buyer user runs this many purchase cycles per second: enough users that a slow answer
# does not stall the rate, few enough that polling before the open stays light.
CYCLES_PER_USER = 2.0


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    token: str


@dataclass(slots=True)
class Plan:
    host: str
    drop_id: int
    stock: int
    per_user_limit: int
    starts_at: float            # epoch seconds: the open
    priority_starts_at: float   # epoch seconds: F-code holders may buy from here
    units_per_second: float
    buyer_users: int
    browser_users: int = 0
    fcode_users: int = 0
    friend_users: int = 0
    cancel_ratio: float = 0.05
    leave_ratio: float = 0.05
    retry_ratio: float = 0.02   # double clicks: the same Idempotency-Key sent twice
    partitions: int = 1         # Locust worker processes sharing the accounts
    tally_path: str = ""
    # "test" pays in the request; "stripe" / "alipay" begin a payment and complete it at the provider's
    # stand-in (Stripe.js's confirm, or the wallet's pay), whose signed notice pays the order later.
    provider: str = "test"
    provider_base: str = ""            # the stand-in's origin
    stripe_publishable_key: str = ""
    variants: list[str] = field(default_factory=list)  # the drop's variant skus (empty: none)
    buyers: list[Account] = field(default_factory=list)
    employees: list[Account] = field(default_factory=list)

    @property
    def period(self) -> float:
        """Seconds between one buyer user's purchase cycles so that all of them make the target rate."""
        return self.buyer_users / self.units_per_second

    def user_counts(self) -> dict[str, int]:
        """Locust user class name -> fixed count, for the classes this run enables."""
        counts = {"BuyerUser": self.buyer_users, "BrowserUser": self.browser_users,
                  "FcodeHolderUser": self.fcode_users, "FriendUser": self.friend_users}
        return {name: count for name, count in counts.items() if count > 0}

    def dump(self, path: Path) -> None:
        path.touch(mode=0o600)
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        data: dict[str, Any] = json.loads(Path(path).read_text())
        data["buyers"] = [Account(**a) for a in data.get("buyers", [])]
        data["employees"] = [Account(**a) for a in data.get("employees", [])]
        return cls(**data)

    @classmethod
    def from_env(cls) -> Plan:
        path = os.environ.get(PLAN_ENV)
        if not path:
            raise SystemExit(f"{PLAN_ENV} is not set: run the rehearsal with `flashsale loadtest`, "
                             "which provisions the drop and accounts and writes the plan")
        return cls.load(path)


def split_stock(stock: int, variants: int) -> list[int]:
    """The drop's stock across its variants, as evenly as it goes (the first ones take the remainder)."""
    base, extra = divmod(stock, variants)
    return [base + (1 if i < extra else 0) for i in range(variants)]


def variant_stocks(run_id: str, stock: int, count: int) -> dict[str, int]:
    """`--variants`: each variant's sku -> its stock (none without)."""
    return {f"lt-{run_id}-v{i + 1}": n for i, n in enumerate(split_stock(stock, count))} if count else {}


def variant_fields(stocks: dict[str, int]) -> dict[str, Any]:
    """The drop's `variants` field for the admin API (nothing without variants)."""
    if not stocks:
        return {}
    return {"variants": [{"sku": sku, "name": f"Variant {i + 1}", "stock": n}
                         for i, (sku, n) in enumerate(stocks.items())]}


def buyer_users_for(units_per_second: float) -> int:
    return max(1, math.ceil(units_per_second / CYCLES_PER_USER))


def buyers_needed(stock: int, per_user_limit: int, cancel_ratio: float, leave_ratio: float) -> int:
    """Accounts to sell the whole stock without reusing a buyer: one per unit, plus the abandoners."""
    per_buyer = max(1, per_user_limit)
    return math.ceil(stock / per_buyer * (1 + cancel_ratio + leave_ratio) * 1.1) + 10
