"""Purchases of one drop that arrive while its previous Redis call is in flight go together in the
next call (group commit). A quiet drop gets one call per purchase, without waiting; a hot drop's
purchases share the round trip, the script start, the drop's counters and one stream entry, which
halves Redis's work per purchase. Each purchase is still decided on its own, in arrival order."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

MAX_BATCH = 64


@dataclass(slots=True)
class PurchaseRequest:
    user_id: str
    quantity: int
    order_id: str
    body_hash: str
    fcode_json: bytes        # the F-code hash as a JSON string literal (b'""' for none)
    ref_json: bytes          # the referral token as a JSON string literal
    idem_key: str            # the Redis key of the request's Idempotency-Key
    has_idem: bool
    rate_per_second: int
    token_version: int = 0
    address: str = ""        # the client's address tag (base64url), "" for none
    max_unpaid_per_address: int = 0
    answer_only: bool = False  # answer a known Idempotency-Key, take nothing
    future: asyncio.Future[Any] = field(init=False)

    def args(self) -> tuple[str | int | bytes, ...]:
        """This request's 11 arguments of purchase.lua, in its header's order."""
        return (self.user_id, self.quantity, self.order_id, self.body_hash, "1" if self.fcode_json != b'""' else "0",
                self.fcode_json, self.ref_json, "1" if self.has_idem else "0", self.token_version, self.address,
                "1" if self.answer_only else "0")


Sender = Callable[[int, list[PurchaseRequest]], Awaitable[list[Any]]]


class PurchaseBatcher:
    """One per worker process; `send(drop_id, requests)` makes the call and returns one reply each."""

    def __init__(self, send: Sender, max_batch: int = MAX_BATCH) -> None:
        self._send = send
        self._max = max_batch
        self._queues: dict[int, list[PurchaseRequest]] = {}
        self._draining: dict[int, asyncio.Task[None]] = {}

    async def submit(self, drop_id: int, request: PurchaseRequest) -> Any:
        request.future = asyncio.get_running_loop().create_future()
        self._queues.setdefault(drop_id, []).append(request)
        if drop_id not in self._draining:
            self._draining[drop_id] = asyncio.create_task(self._drain(drop_id))
        return await request.future

    async def _drain(self, drop_id: int) -> None:
        queue = self._queues[drop_id]
        try:
            while queue:
                batch = queue[:self._max]
                del queue[:self._max]
                try:
                    replies = await self._send(drop_id, batch)
                except asyncio.CancelledError:
                    for request in batch + queue:
                        if not request.future.done():
                            request.future.cancel()
                    queue.clear()
                    raise
                except Exception as exc:  # every caller of the batch sees the error (503 for a down Redis)
                    for request in batch:
                        if not request.future.done():
                            request.future.set_exception(exc)
                    continue
                for request, reply in zip(batch, replies, strict=True):
                    if not request.future.done():  # the buyer went away meanwhile
                        request.future.set_result(reply)
        finally:
            del self._draining[drop_id]
