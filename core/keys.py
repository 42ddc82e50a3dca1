"""Every Redis key the service uses, built in one place.

All keys of one drop share the hash tag ``{drop:ID}`` so that each drop's scripts touch a single
slot (Redis Cluster). An F-code's keys share ``{fcode:HASH}``. The prefix keeps test runs and
deployments that share a server apart.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DropKeys:
    inv: str          # hash: stock counters, phase times, limits, price
    users: str        # hash: user id -> units held (reserved + paid); "r:ID" -> the buyer's rate window
    orders: str       # hash: order id -> order JSON (the live state of every order, its one copy)
    deadlines: str    # sorted set: order id -> pay-by (or payment lease) in ms
    stream: str       # stream: order events for the SQL sink ({"i": order id})
    rejected: str     # hash: error code -> count
    idem_prefix: str  # + user + ":" + key -> "order id|body hash" (string with TTL)
    rebuild: str      # string with TTL: one app process is merging SQL back in after a failover

    def all_keys(self) -> list[str]:
        return [self.inv, self.users, self.orders, self.deadlines, self.stream, self.rejected]


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._drop_cache: dict[int, DropKeys] = {}

    def drop(self, drop_id: int) -> DropKeys:
        cached = self._drop_cache.get(drop_id)
        if cached is None:
            tag = f"{self.prefix}:{{drop:{drop_id}}}"
            cached = DropKeys(
                inv=f"{tag}:inv", users=f"{tag}:users", orders=f"{tag}:orders",
                deadlines=f"{tag}:deadlines", stream=f"{tag}:stream", rejected=f"{tag}:rejected",
                idem_prefix=f"{tag}:idem:", rebuild=f"{tag}:rebuild",
            )
            self._drop_cache[drop_id] = cached
        return cached

    @property
    def active_drops(self) -> str:
        """Set of drop ids whose streams and deadlines the background loops watch."""
        return f"{self.prefix}:drops:active"

    def login_failures(self, scope: str, ident: str) -> str:
        return f"{self.prefix}:login-fail:{scope}:{ident}"

    def fcode(self, code_hash: str) -> str:
        return f"{self.prefix}:{{fcode:{code_hash}}}:state"

    def fcode_failures(self, scope: str, ident: str) -> str:
        return f"{self.prefix}:fcode-fail:{scope}:{ident}"

    @property
    def fcodes_dirty(self) -> str:
        """Hash: F-code lookup hash -> marker, for codes whose Redis state SQL has not caught up with."""
        return f"{self.prefix}:fcodes:dirty"

    def share_views(self, token_hash: str) -> str:
        """Hash: "views" / "crawler_views" -> count, of one share link."""
        return f"{self.prefix}:{{share:{token_hash}}}:views"

    def share_seen(self, token_hash: str, visitor: str) -> str:
        """Exists while a visitor's view of a share link counts already (one per hour)."""
        return f"{self.prefix}:{{share:{token_hash}}}:seen:{visitor}"
