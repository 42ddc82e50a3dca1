"""The purchase batcher (sale/batching.py): purchases of one drop that arrive while its previous call is
in flight go together in the next call, in arrival order; a quiet drop's purchase goes alone at once;
an error reaches every buyer of its batch and no other. (Redis itself is exercised by the race tests:
those purchases go through this batcher.)"""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sale.batching import PurchaseBatcher
from sale.purchase_script import Purchase, PurchaseRequest


def request(user: int) -> Purchase:
    return Purchase(PurchaseRequest(1, user, 1, 0), f"1-{user}")


class Recorder:
    def __init__(self) -> None:
        self.batches: list[tuple[int, list[str]]] = []
        self.release = asyncio.Event()
        self.fail_users: set[str] = set()

    async def send(self, drop_id: int, requests: list[Purchase]) -> list[Any]:
        self.batches.append((drop_id, [str(r.request.user_id) for r in requests]))
        await self.release.wait()
        if self.fail_users & {str(r.request.user_id) for r in requests}:
            raise ConnectionError("redis went away")
        return [[b"ok", str(r.request.user_id).encode()] for r in requests]


async def test_purchases_arriving_during_a_call_share_the_next_one_in_order() -> None:
    recorder = Recorder()
    batcher = PurchaseBatcher(recorder.send)
    first = asyncio.create_task(batcher.submit(7, request(1)))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert recorder.batches == [(7, ["1"])]  # alone, without waiting for company
    rest = [asyncio.create_task(batcher.submit(7, request(u))) for u in range(2, 12)]
    other_drop = asyncio.create_task(batcher.submit(8, request(99)))
    await asyncio.sleep(0)
    recorder.release.set()
    replies = await asyncio.gather(first, *rest, other_drop)
    assert [r[1] for r in replies] == [str(u).encode() for u in [*range(1, 12), 99]]
    assert (7, [str(u) for u in range(2, 12)]) in recorder.batches  # one call for the ten that waited
    assert (8, ["99"]) in recorder.batches  # another drop never waits for this one
    assert len(recorder.batches) == 3


async def test_an_error_reaches_every_buyer_of_its_batch_only() -> None:
    recorder = Recorder()
    recorder.fail_users = {"2"}
    batcher = PurchaseBatcher(recorder.send, max_batch=2)
    tasks = [asyncio.create_task(batcher.submit(7, request(u))) for u in range(1, 6)]
    await asyncio.sleep(0)
    recorder.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert recorder.batches == [(7, ["1", "2"]), (7, ["3", "4"]), (7, ["5"])]
    assert [isinstance(r, ConnectionError) for r in results] == [True, True, False, False, False]


async def test_a_buyer_who_leaves_does_not_break_the_batch() -> None:
    recorder = Recorder()
    batcher = PurchaseBatcher(recorder.send)
    leaving = asyncio.create_task(batcher.submit(7, request(1)))
    staying = asyncio.create_task(batcher.submit(7, request(2)))
    await asyncio.sleep(0)
    leaving.cancel()
    recorder.release.set()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert (await staying)[1] == b"2"
