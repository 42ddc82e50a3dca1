"""Drop-open messages written ahead (messages/drop_open.py): staged in the minutes before the open, due
at the open and shown from it; a cancel takes its message back, a change of channels changes its
deliveries, a reminder set after the staging is staged too, a moved start moves them, F-code holders'
come forward to the priority window; and at the open each account is told once."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from core.clock import as_utc
from messages.drop_open import STAGE_AHEAD
from messages.models import Delivery, Message
from tests.support import Account, create_drop, eventually, iso, make_account, make_accounts, runtime_of
from tests.support.clock import Manual
from tests.support.fcodes import claim
from tests.support.mail import another_worker_steps

Staged = dict[int, tuple[datetime, dict[str, datetime]]]  # user: (created_at, {channel: due_at})


async def outbox_of(manual: Manual, drop_id: int) -> Staged:
    """The drop's drop-open messages in SQL, whatever their time."""
    async with runtime_of(manual.app).sessions() as session:
        rows = (await session.execute(
            select(Message.user_id, Message.created_at, Delivery.channel, Delivery.due_at)
            .outerjoin(Delivery, Delivery.message_id == Message.id)
            .where(Message.drop_id == drop_id, Message.kind == "drop_open"))).all()
    found: Staged = {}
    for user_id, created_at, channel, due_at in rows:
        _, channels = found.setdefault(user_id, (as_utc(created_at), {}))
        if channel is not None:
            channels[channel] = as_utc(due_at)
    return found


async def opened(manual: Manual, who: Account, drop_id: int) -> int:
    response = await manual.client.get("/api/me/messages", headers=who.headers)
    assert response.status_code == 200, response.text
    return sum(m["kind"] == "drop_open" and m["drop_id"] == drop_id for m in response.json())


async def remind(manual: Manual, drop_id: int, who: Account, channels: list[str]) -> None:
    response = await manual.client.put(f"/api/drops/{drop_id}/reminder", json={"channels": channels},
                                       headers=who.headers)
    assert response.status_code == 200, response.text


async def test_staged_before_the_open_follow_each_change_and_tell_once(manual: Manual) -> None:
    client, clock = manual.client, manual.clock
    operator = await make_account(manual.app, "operator")
    a, b, c, d = await make_accounts(manual.app, 4)
    starts = clock.now() + timedelta(minutes=30)
    drop = await create_drop(client, operator, starts_at=iso(starts), ends_at=iso(starts + timedelta(hours=1)))
    for who, channels in ((a, ["email"]), (b, ["email"]), (c, ["email", "push"])):
        await remind(manual, drop["id"], who, channels)
    clock.set(starts - STAGE_AHEAD + timedelta(minutes=5))

    async def staged(count: int) -> bool:
        return len(await outbox_of(manual, drop["id"])) == count

    await eventually(lambda: staged(3), timeout=10)
    found = await outbox_of(manual, drop["id"])
    assert found[a.id] == (starts, {"email": starts})
    assert found[c.id] == (starts, {"email": starts, "push": starts})
    assert [await opened(manual, who, drop["id"]) for who in (a, b, c)] == [0, 0, 0]  # not shown before the open

    assert (await client.delete(f"/api/drops/{drop['id']}/reminder", headers=b.headers)).status_code == 204
    await remind(manual, drop["id"], a, ["push"])
    await remind(manual, drop["id"], d, ["email"])  # after the staging: staged by a later step
    await eventually(lambda: staged(3), timeout=10)
    found = await outbox_of(manual, drop["id"])
    assert b.id not in found and d.id in found
    assert found[a.id] == (starts, {"push": starts})

    later = starts + timedelta(minutes=10)
    moved = await client.patch(f"/api/admin/drops/{drop['id']}", json={"starts_at": iso(later)},
                               headers=operator.headers)
    assert moved.status_code == 200, moved.text

    async def all_moved() -> bool:
        found = await outbox_of(manual, drop["id"])
        return len(found) == 3 and all(at == later and set(due.values()) == {later} for at, due in found.values())

    await eventually(all_moved, timeout=10)
    clock.set(starts + timedelta(seconds=1))  # the old start: nothing yet
    await eventually(lambda: staged(3), timeout=5)
    assert [await opened(manual, who, drop["id"]) for who in (a, c, d)] == [0, 0, 0]

    clock.set(later + timedelta(seconds=1))

    async def all_told() -> bool:
        return [await opened(manual, who, drop["id"]) for who in (a, b, c, d)] == [1, 0, 1, 1]

    await eventually(all_told, timeout=10)
    await eventually(lambda: staged(3), timeout=5)  # the open's own pass wrote nothing twice
    assert len(await outbox_of(manual, drop["id"])) == 3


async def test_holders_staged_messages_come_forward_to_the_priority_window(manual: Manual) -> None:
    client, clock = manual.client, manual.clock
    operator = await make_account(manual.app, "operator")
    holder, buyer = await make_account(manual.app, "employee"), await make_account(manual.app)
    await claim(client, holder)
    starts = clock.now() + timedelta(minutes=30)
    priority = starts - timedelta(minutes=5)
    drop = await create_drop(client, operator, starts_at=iso(starts), ends_at=iso(starts + timedelta(hours=1)),
                             priority_minutes=5)
    for who in (holder, buyer):
        await remind(manual, drop["id"], who, ["email"])
    clock.set(starts - STAGE_AHEAD + timedelta(seconds=1))  # before the priority window: both staged for the start

    async def staged_at(expected: dict[int, datetime]) -> bool:
        return {u: at for u, (at, _) in (await outbox_of(manual, drop["id"])).items()} == expected

    await eventually(lambda: staged_at({holder.id: starts, buyer.id: starts}), timeout=10)
    clock.set(priority + timedelta(seconds=1))
    await eventually(lambda: staged_at({holder.id: priority, buyer.id: starts}), timeout=10)
    assert (await outbox_of(manual, drop["id"]))[holder.id][1] == {"email": priority}
    assert await opened(manual, holder, drop["id"]) == 1
    assert await opened(manual, buyer, drop["id"]) == 0
    clock.set(starts + timedelta(seconds=1))

    async def buyer_told() -> bool:
        return await opened(manual, buyer, drop["id"]) == 1

    await eventually(buyer_told, timeout=10)
    assert await opened(manual, holder, drop["id"]) == 1


async def test_a_drop_cancelled_before_its_open_takes_its_staged_messages_back(manual: Manual) -> None:
    client, clock = manual.client, manual.clock
    operator = await make_account(manual.app, "operator")
    buyer = await make_account(manual.app)
    starts = clock.now() + timedelta(minutes=30)
    drop = await create_drop(client, operator, starts_at=iso(starts), ends_at=iso(starts + timedelta(hours=1)))
    await remind(manual, drop["id"], buyer, ["email"])
    clock.set(starts - timedelta(minutes=1))

    async def staged() -> bool:
        return buyer.id in await outbox_of(manual, drop["id"])

    await eventually(staged, timeout=10)
    cancelled = await client.post(f"/api/admin/drops/{drop['id']}/cancel", json={}, headers=operator.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert await outbox_of(manual, drop["id"]) == {}
    clock.set(starts + timedelta(seconds=1))
    await another_worker_steps(manual.app)  # a scheduler's steps after the would-be open (and the app's own)
    assert await outbox_of(manual, drop["id"]) == {}
    assert await opened(manual, buyer, drop["id"]) == 0
