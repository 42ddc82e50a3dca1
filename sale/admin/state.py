"""The operator's Redis steps on a drop: thin wrappers over drop_control.lua and drop_cancel.lua (one
round trip each, atomic against purchases), and the record's values those scripts set."""
from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock, ms
from core.errors import ServiceUnavailable
from core.keys import Keys
from core.redis import LuaScript, RedisClient, ScriptArg, ScriptRegistry
from sale.exceptions import StockConflict
from sale.failover import FailoverRebuild
from sale.inventory import DropFenced
from sale.live_order import LiveOrder
from sale.models import Drop

CANCEL_BATCH = 500


@dataclass(frozen=True, slots=True)
class ControlScripts:
    control: LuaScript  # drop_control.lua
    cancel: LuaScript   # drop_cancel.lua


def register_scripts(scripts: ScriptRegistry) -> ControlScripts:
    return ControlScripts(scripts.add("sale.lua", "drop_control.lua"), scripts.add("sale.lua", "drop_cancel.lua"))


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """The fields of a drop's Redis state an operator changes, as the record has them; the stock only
    when it is to be set (its change is checked against the units left), and on a drop with variants the
    variant that change applies to (its units left move by the same difference)."""

    fields: tuple[tuple[str, ScriptArg], ...]
    stock: int | None = None
    variant: str | None = None


def live_settings(drop: Drop, *, with_stock: bool = False, variant: str | None = None) -> LiveSettings:
    starts = ms(drop.starts_at)
    return LiveSettings((
        ("priority_starts_at", ms(drop.priority_starts_at)), ("starts_at", starts), ("ends_at", ms(drop.ends_at)),
        ("queue_opens_at", starts - drop.prequeue_minutes * 60_000), ("per_user_limit", drop.per_user_limit),
        ("admit_per_second", drop.admit_per_second), ("paused", 1 if drop.paused else 0),
        ("notice", drop.notice or ""), ("wl_hold_ms", drop.waitlist_hold_minutes * 60_000),
    ), drop.stock if with_stock else None, variant if with_stock else None)


class NotLoaded(ServiceUnavailable):
    """The drop's Redis state went away between loading it and the change (a flush, a failover)."""

    def __init__(self) -> None:
        super().__init__(detail="The drop's live state is being rebuilt; retry shortly.", retry_after=1)


# What `DropState.apply` raises for an answer of the script that changed nothing.
SCRIPT_REFUSALS = (StockConflict, NotLoaded, DropFenced)


class DropState:
    def __init__(self, redis: RedisClient, keys: Keys, clock: Clock, scripts: ControlScripts,
                 failover: FailoverRebuild) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self.scripts = scripts
        self.failover = failover

    async def apply(self, drop_id: int, settings: LiveSettings) -> int:
        """Sets the fields (and the stock) in one step; returns the units left. Raises StockConflict
        when the stock would take more than is left, NotLoaded or DropFenced (nothing changed then)."""
        args: list[ScriptArg] = [self.clock.now_ms(), "" if settings.stock is None else settings.stock,
                                 settings.variant or ""]
        for name, value in settings.fields:
            args += [name, value]
        with self.failover.rebuilds_when_fenced(drop_id):
            reply = await self.scripts.control(self.redis, (self.keys.drop(drop_id).inv,), args)
            outcome = reply[0].decode()
            if outcome == "fenced":
                raise DropFenced(drop_id)
        if outcome == "missing":
            raise NotLoaded()
        if outcome == "stock_conflict":
            raise StockConflict(f"Only {int(reply[1])} units are left to take away")
        return int(reply[1])

    async def cancel_batch(self, drop_id: int, skip: int,
                           batch: int = CANCEL_BATCH) -> tuple[bool, list[LiveOrder], list[LiveOrder]]:
        """Ends the drop now in Redis and looks at up to `batch` unpaid orders after the `skip` kept at
        the front: (more to look at, the orders cancelled, the orders kept: their provider payment is
        open and must be closed first)."""
        k = self.keys.drop(drop_id)
        with self.failover.rebuilds_when_fenced(drop_id):
            reply = await self.scripts.cancel(self.redis, (k.inv, k.users, k.orders, k.deadlines, k.stream),
                                              (self.clock.now_ms(), batch, skip))
            if reply and reply[0] == b"fenced":
                raise DropFenced(drop_id)
        if reply and reply[0] == b"missing":
            raise NotLoaded()
        more, count, orders = int(reply[0]), int(reply[1]), [LiveOrder.decode(raw) for raw in reply[2:]]
        return more == 1, orders[:count], orders[count:]
