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
    users: str        # hash: user id -> units held (reserved + paid); "r:ID" -> the buyer's rate window;
                      # "a:TAG" -> reserved-but-unpaid units of a client address (see purchase.lua)
    orders: str       # hash: order id -> order JSON (the live state of every order, its one copy)
    deadlines: str    # sorted set: order id -> pay-by (or payment lease) in ms
    stream: str       # stream: order events for the SQL sink ({"i": order ids, space separated})
    rejected: str     # hash: error code -> count
    idem_prefix: str  # + user + ":" + key -> "order id|body hash" (string with TTL)
    refunds_due: str  # sorted set: order id -> ms its late charge became due for a refund (until refunded)
    # The waiting room (same slot, so joining, metering and the purchase check are single scripts)
    queue: str          # hash: meter state (budget, last_ms, seq) and counts (done, expired)
    line: str           # sorted set: user id -> place (random before starts_at, then arrival order)
    seen: str           # sorted set: waiting user id -> last poll ms (stale ones are skipped)
    admitted: str       # sorted set: user id -> admitted_until ms
    tickets: str        # hash: user id -> w(aiting), a(dmitted), d(one), x (expired)
    join_addr_prefix: str   # + client address -> tickets it enrolled in the window (string with TTL)
    join_user_prefix: str   # + user -> join attempts this minute (string with TTL)
    join_rate_prefix: str   # + epoch second -> joins in that second (string with TTL)
    solution_prefix: str    # + challenge signature -> used (string with TTL: single use)
    rebuild: str      # string with TTL: one app process is merging SQL back in after a failover
    refund_job: str   # string with TTL: the one app process working through the drop's bulk refund
    notices: str      # hash: provider:event id -> outcome (payment notices applied once; TTL 5 days)
    # Draws (sale/draw/; same slot, so entering, the purchase's win check and a lapse are single scripts)
    draw_entries: str  # hash: user id -> "entry id|status|address tag|variant" (status e, w(ithdrawn), v(oided));
                       # "a:" .. address tag -> entries that address holds
    draw_results: str  # hash: user id -> "status|rank|buy_until ms|entry id" of winners and backups
    draw_due: str      # sorted set: user id -> buy_until ms of each win not bought yet
    draw_backups: str  # sorted set: user id -> rank of each backup still waiting for a turn
    draw_lock: str     # string with TTL: the one process making the draw
    # The waitlist after sell-out (sale/waitlist/; same slot, so joining, offering and the purchase's hold
    # check are single scripts; its counters are "wl_*" fields of inv, see waitlist_offer.lua)
    waitlist: str      # sorted set: waiting user id -> join sequence (position = rank + 1)
    waitlist_holds: str  # hash: user id -> "units|until ms|hold number" of each hold not claimed or passed yet

    def all_keys(self) -> list[str]:
        return [self.inv, self.users, self.orders, self.deadlines, self.stream, self.rejected,
                self.refunds_due, self.queue, self.line, self.seen, self.admitted, self.tickets, self.notices,
                self.draw_entries, self.draw_results, self.draw_due, self.draw_backups, self.waitlist,
                self.waitlist_holds]


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
                idem_prefix=f"{tag}:idem:", refunds_due=f"{tag}:refunds-due",
                rebuild=f"{tag}:rebuild", refund_job=f"{tag}:refund-job", notices=f"{tag}:notices",
                queue=f"{tag}:q", line=f"{tag}:q:line", seen=f"{tag}:q:seen", admitted=f"{tag}:q:admitted",
                tickets=f"{tag}:q:tickets", join_addr_prefix=f"{tag}:q:addr:", join_user_prefix=f"{tag}:q:user:",
                join_rate_prefix=f"{tag}:q:joins:", solution_prefix=f"{tag}:q:used:",
                draw_entries=f"{tag}:draw:entries", draw_results=f"{tag}:draw:results",
                draw_due=f"{tag}:draw:due", draw_backups=f"{tag}:draw:backups", draw_lock=f"{tag}:draw:lock",
                waitlist=f"{tag}:wl", waitlist_holds=f"{tag}:wl:holds",
            )
            self._drop_cache[drop_id] = cached
        return cached

    @property
    def active_drops(self) -> str:
        """Set of drop ids whose streams and deadlines the background loops watch."""
        return f"{self.prefix}:drops:active"

    @property
    def drop_catalog(self) -> str:
        """Hash: drop id -> the drop's JSON, for every drop not long ended (listings and drop pages)."""
        return f"{self.prefix}:{{catalog}}:drops"  # one hash tag with the version: one MULTI

    @property
    def drop_catalog_version(self) -> str:
        """String: bumped on every change of the catalog, so each worker's copy knows it is stale."""
        return f"{self.prefix}:{{catalog}}:version"

    def login_failures(self, scope: str, ident: str) -> str:
        return f"{self.prefix}:login-fail:{scope}:{ident}"

    def attempts(self, action: str, ident: str) -> str:
        """Requests of one kind (login, register) from one client address in the current window."""
        return f"{self.prefix}:attempts:{action}:{ident}"

    @property
    def token_versions(self) -> str:
        """Hash: user id -> token version, for accounts whose version was ever bumped."""
        return f"{self.prefix}:{{tokver}}:versions"

    @property
    def token_versions_changes(self) -> str:
        """Sorted set in the versions' slot: user id -> ms of its last bump (what workers poll)."""
        return f"{self.prefix}:{{tokver}}:changes"

    @property
    def token_versions_ready(self) -> str:
        """Exists once `token_versions` was built from the record; gone means Redis lost it."""
        return f"{self.prefix}:{{tokver}}:ready"

    def address_book(self, user_id: int) -> str:
        """Hash: address id -> the address as an order keeps it (JSON), "" once deleted: the copy a
        payment reads, so paying never waits on SQL (accounts/addresses/copy.py)."""
        return f"{self.prefix}:{{addr:{user_id}}}:book"

    @property
    def address_books_copied(self) -> str:
        """Exists once every address in SQL was copied into the books (gone with a flushed Redis)."""
        return f"{self.prefix}:addresses:copied"

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

    def share_unrecorded(self, token_hash: str) -> str:
        """String: a paid order's JSON, so its link's page works before the sink writes the row."""
        return f"{self.prefix}:{{share:{token_hash}}}:unrecorded"

    def share_seen(self, token_hash: str, visitor: str) -> str:
        """Exists while a visitor's view of a share link counts already (one per hour)."""
        return f"{self.prefix}:{{share:{token_hash}}}:seen:{visitor}"

    @property
    def reminder_counts(self) -> str:
        """Hash: drop id -> accounts that set a reminder (a drop's `reservations`); SQL's count rewrites it."""
        return f"{self.prefix}:reminders:counts"

    def reserved(self, drop_id: int) -> str:
        """Set: user ids that set a reminder before the drop's starts_at, and "-" (the set was loaded);
        its reservation-only window admits only them (sale/reserved.py)."""
        return f"{self.prefix}:{{drop:{drop_id}}}:reserved"

    def queue_told(self, drop_id: int) -> str:
        """Stream: admissions of waiting-room tickets that have a channel ({"u": user, "until": ms}), for
        the scheduler to tell them (sale/reminders.py); deleted once the message is in the outbox."""
        return f"{self.prefix}:{{drop:{drop_id}}}:q:told"

    def queue_channels(self, drop_id: int) -> str:
        """Set: user ids with a reminder channel on the drop: their waiting-room tickets are told at
        admission instead of expiring for missing polls (lost with Redis: those tickets poll again)."""
        return f"{self.prefix}:{{drop:{drop_id}}}:q:channels"
