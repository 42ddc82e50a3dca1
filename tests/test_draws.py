"""Draw drops: the entry window, one entry per account, withdrawals, the commitment and the seed, ranks
anyone recomputes from the public endpoints, purchases only by winners, lapses passing to backups."""
from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.main import create_app
from messages.models import Message
from sale.draw.models import DrawEntry, DrawPage, DrawRank
from sale.draw.runner import DrawRunner
from tests.support import (
    create_drop,
    eventually,
    is_problem,
    iso,
    make_account,
    make_accounts,
    pay,
    purchase,
    services_of,
)
from tests.support.clock import Manual
from tests.support.draws import create_draw, drawn, enter_all, recompute
from tests.support.fcodes import claim


async def test_a_draw_is_created_with_its_window_and_bad_ones_are_refused(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop = await create_draw(manual, operator, stock=5, backups=2)
    assert drop["mode"] == "draw" and drop["backups"] == 2 and drop["per_user_limit"] == 1
    assert drop["entries_open_at"] < drop["entries_close_at"] <= drop["starts_at"]
    sale = await create_drop(client, operator)
    assert sale["mode"] == "sale" and sale["entries_open_at"] is None
    now = manual.clock.now()
    base = {"sku": "x-1", "name": "x", "price_cents": 1, "currency": "CNY", "stock": 1, "mode": "draw"}
    for bad in ({}, {"entries_open_at": iso(now)},
                {"entries_open_at": iso(now), "entries_close_at": iso(now - timedelta(minutes=1))},
                {"entries_open_at": iso(now), "entries_close_at": iso(now + timedelta(minutes=1)),
                 "starts_at": iso(now)},
                {"entries_open_at": iso(now), "entries_close_at": iso(now + timedelta(minutes=1)),
                 "per_user_limit": 2}):
        answer = await client.post("/api/admin/drops", json={**base, **bad}, headers=operator.headers)
        assert is_problem(answer, 422, "validation_error"), (bad, answer.text)
    answer = await client.post("/api/admin/drops", json={**base, "mode": "sale", "backups": 3},
                               headers=operator.headers)
    assert is_problem(answer, 422, "validation_error")


async def test_entering_withdrawing_and_the_window(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop = await create_draw(manual, operator, open_in=30, close_in=90)
    path = f"/api/drops/{drop['id']}"
    me = await make_account(manual.app)
    draw = (await client.get(f"{path}/draw")).json()
    assert draw["commitment"] is None and draw["seed"] is None  # nothing before entries open
    assert is_problem(await client.put(f"{path}/entry", headers=me.headers), 403, "entries_closed")
    manual.clock.advance(31)
    draw = (await client.get(f"{path}/draw")).json()
    assert len(draw["commitment"]) == 64 and draw["seed"] is None and draw["entries"] == 0
    first = await client.put(f"{path}/entry", headers=me.headers)
    assert first.status_code == 200 and first.json()["status"] == "entered"
    again = await client.put(f"{path}/entry", json={}, headers=me.headers)
    assert again.json()["id"] == first.json()["id"]  # one entry per account
    mine = (await client.get(f"{path}/entry", headers=me.headers)).json()
    assert mine == {"id": first.json()["id"], "status": "entered", "rank": None, "buy_until": None, "voided": False}
    assert (await client.get(f"{path}/draw")).json()["entries"] == 1
    assert (await client.delete(f"{path}/entry", headers=me.headers)).status_code == 204
    assert is_problem(await client.get(f"{path}/entry", headers=me.headers), 404, "not_entered")
    assert is_problem(await client.delete(f"{path}/entry", headers=me.headers), 404, "not_entered")
    assert (await client.put(f"{path}/entry", headers=me.headers)).json()["id"] == first.json()["id"]
    assert is_problem(await client.get(f"{path}/draw/entries.txt"), 409, "draw_not_made")
    assert is_problem(await purchase(client, drop["id"], me.headers), 403, "not_open")
    manual.clock.advance(60)  # closed
    assert is_problem(await client.delete(f"{path}/entry", headers=me.headers), 403, "entries_closed")
    late = await make_account(manual.app)
    assert is_problem(await client.put(f"{path}/entry", headers=late.headers), 403, "entries_closed")
    assert (await client.put(f"{path}/entry", headers=me.headers)).json()["id"] == first.json()["id"]
    sale = await create_drop(client, operator)
    assert is_problem(await client.put(f"/api/drops/{sale['id']}/entry", headers=me.headers), 409, "not_a_draw")
    assert is_problem(await client.get(f"/api/drops/{sale['id']}/draw"), 409, "not_a_draw")
    assert is_problem(await client.put("/api/drops/999999/entry", headers=me.headers), 404, "drop_not_found")
    assert (await client.put(f"{path}/entry")).status_code == 401


async def test_one_address_holds_a_capped_number_of_entries(manual: Manual, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services_of(manual.app).draws, "entries_per_address", 2)
    operator = await make_account(manual.app, "operator")
    drop = await create_draw(manual, operator)
    crowd = await make_accounts(manual.app, 3)
    answers = [await manual.client.put(f"/api/drops/{drop['id']}/entry", headers=a.headers) for a in crowd]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert is_problem(answers[2], 409, "entry_address_limit")
    assert (await manual.client.delete(f"/api/drops/{drop['id']}/entry", headers=crowd[0].headers)).status_code == 204
    assert (await manual.client.put(f"/api/drops/{drop['id']}/entry", headers=crowd[2].headers)).status_code == 200


Published = dict[str, tuple[int, str]]


async def public_ranks(manual: Manual, drop_id: int) -> tuple[dict[str, Any], dict[str, int], Published]:
    """The draw, ranks recomputed from the public endpoints only, and the published results."""
    client = manual.client
    draw = await drawn(client, drop_id)
    assert hashlib.sha256(bytes.fromhex(draw["seed"])).hexdigest() == draw["commitment"]
    listing = await client.get(f"/api/drops/{drop_id}/draw/entries.txt")
    assert listing.status_code == 200 and listing.headers["content-type"].startswith("text/plain")
    ids = listing.text.split()
    assert len(ids) == draw["entries"] == len(set(ids))
    results = await client.get(f"/api/drops/{drop_id}/draw/results.txt")
    published = {eid: (int(rank), status) for eid, rank, status in (line.split() for line in results.text.splitlines())}
    return draw, recompute(draw["seed"], ids), published


async def test_ranks_recompute_from_the_public_endpoints(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop = await create_draw(manual, operator, stock=3, backups=2)
    crowd = await make_accounts(manual.app, 12)
    entries = await enter_all(client, drop["id"], crowd)
    assert (await client.delete(f"/api/drops/{drop['id']}/entry", headers=crowd[-1].headers)).status_code == 204
    manual.clock.advance(61)
    draw, ranks, published = await public_ranks(manual, drop["id"])
    assert draw["entries"] == 11 and draw["winners"] == 3 and draw["backups"] == 2 and draw["voided"] == 0
    assert entries[crowd[-1].id] not in ranks  # withdrawn: not in the draw
    assert {eid: rank for eid, (rank, _) in published.items()} == ranks
    for account in crowd[:-1]:
        mine = (await client.get(f"/api/drops/{drop['id']}/entry", headers=account.headers)).json()
        rank = ranks[entries[account.id]]
        expected = "won" if rank <= 3 else "backup" if rank <= 5 else "lost"
        assert (mine["status"], mine["rank"]) == (expected, rank)
        assert (mine["buy_until"] is not None) == (expected == "won")
        assert published[entries[account.id]][1] == expected


async def test_entries_redis_lost_are_drawn_from_sql(manual: Manual) -> None:
    """Entries the sink recorded but Redis no longer holds (a Redis restored from an older snapshot)
    are found by the database and drawn with the rest."""
    client = manual.client
    runtime = services_of(manual.app).runtime
    operator = await make_account(manual.app, "operator")
    drop = await create_draw(manual, operator, stock=2, backups=2)
    crowd = await make_accounts(manual.app, 9)
    entries = await enter_all(client, drop["id"], crowd)

    async def recorded() -> bool:
        async with runtime.sessions() as session:
            found = await session.execute(select(func.count()).select_from(DrawEntry).where(
                col(DrawEntry.drop_id) == drop["id"], col(DrawEntry.status) == "entered"))
        return found.scalar_one() == 9

    await eventually(recorded)
    lost = crowd[:3]
    await runtime.redis.hdel(runtime.keys.drop(drop["id"]).draw_entries, *(str(a.id) for a in lost))
    manual.clock.advance(61)
    draw, ranks, published = await public_ranks(manual, drop["id"])
    assert draw["entries"] == 9 and set(ranks) == set(entries.values())
    assert {eid: rank for eid, (rank, _) in published.items()} == ranks
    async with runtime.sessions() as session:
        told = (await session.execute(select(col(Message.user_id)).where(
            col(Message.drop_id) == drop["id"], col(Message.kind) == "draw_result"))).scalars().all()
    assert sorted(told) == sorted(a.id for a in crowd)


async def test_the_served_verifier_agrees(manual: Manual, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop = await create_draw(manual, operator, stock=2, backups=1)
    await enter_all(client, drop["id"], await make_accounts(manual.app, 6))
    manual.clock.advance(61)
    draw = await drawn(client, drop["id"])
    script = await client.get(draw["verify_url"].removeprefix("http://testserver"))
    assert script.status_code == 200 and "import hashlib" in script.text
    namespace: dict[str, Any] = {"__name__": "verify_draw"}
    exec(compile(script.text, "verify_draw.py", "exec"), namespace)
    pages = {}
    for tail in ("draw", "draw/entries.txt", "draw/results.txt"):
        pages[f"http://testserver/api/drops/{drop['id']}/{tail}"] = (await client.get(
            f"/api/drops/{drop['id']}/{tail}")).content
    namespace["fetch"] = pages.__getitem__
    assert namespace["main"](["verify_draw.py", f"http://testserver/drops/{drop['id']}"]) == 0
    out = capsys.readouterr().out
    assert "seed matches the commitment: yes" in out and "every rank matches" in out
    page = await client.get(f"/api/drops/{drop['id']}/draw/results.txt")
    first = page.text.splitlines()[0].split()
    tampered = page.text.replace(f"{first[0]} {first[1]} ", f"{first[0]} {int(first[1]) % 6 + 1} ", 1)
    pages[f"http://testserver/api/drops/{drop['id']}/draw/results.txt"] = tampered.encode()
    assert namespace["main"](["verify_draw.py", "http://testserver", str(drop["id"])]) == 1
    assert "MISMATCH" in capsys.readouterr().out


async def test_winners_buy_others_cannot_and_a_lapsed_win_passes_to_the_first_backup(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop = await create_draw(manual, operator, stock=2, backups=2, pay_window_seconds=60)
    crowd = await make_accounts(manual.app, 7)
    entries = await enter_all(client, drop["id"], crowd)
    manual.clock.advance(61)
    _, ranks, _ = await public_ranks(manual, drop["id"])
    by_rank = sorted(crowd, key=lambda a: ranks[entries[a.id]])
    first, second, backup1, backup2, loser = by_rank[0], by_rank[1], by_rank[2], by_rank[3], by_rank[-1]
    assert is_problem(await purchase(client, drop["id"], loser.headers), 403, "not_a_winner")
    assert is_problem(await purchase(client, drop["id"], backup1.headers), 403, "not_a_winner")
    order = await purchase(client, drop["id"], first.headers)
    assert order.status_code == 201
    await pay(client, first, order.json()["id"])  # paid: its unit never comes back
    assert is_problem(await purchase(client, drop["id"], first.headers), 409, "limit_reached")
    mine = (await client.get(f"/api/drops/{drop['id']}/entry", headers=first.headers)).json()
    assert mine["status"] == "bought"
    manual.clock.advance(61)  # the second winner let its time pass

    async def passed() -> bool:
        entry = (await client.get(f"/api/drops/{drop['id']}/entry", headers=backup1.headers)).json()
        return bool(entry["status"] == "won")

    await eventually(passed)
    lapsed = (await client.get(f"/api/drops/{drop['id']}/entry", headers=second.headers)).json()
    assert lapsed["status"] == "lapsed"
    assert is_problem(await purchase(client, drop["id"], second.headers), 403, "not_a_winner")
    still = (await client.get(f"/api/drops/{drop['id']}/entry", headers=backup2.headers)).json()
    assert (still["status"], still["rank"]) == ("backup", 4)
    assert (await purchase(client, drop["id"], backup1.headers)).status_code == 201
    assert is_problem(await purchase(client, drop["id"], backup2.headers), 409, "sold_out")

    async def told() -> bool:  # the result at the draw, then the turn
        messages = (await client.get("/api/me/messages", headers=backup1.headers)).json()
        return len([m for m in messages if m["kind"] == "draw_result"]) == 2

    await eventually(told)
    for account, words in ((loser, "is made: not this time."), (backup2, "you are backup number 4"),
                           (first, "you won, buy before ")):  # every entrant told, in words of its result
        texts = [m["text"] for m in (await client.get("/api/me/messages", headers=account.headers)).json()
                 if m["kind"] == "draw_result"]
        assert len(texts) == 1 and words in texts[0], (texts, words)
    results = (await client.get(f"/api/drops/{drop['id']}/draw/results.txt")).text
    statuses = {eid: status for eid, _, status in (line.split() for line in results.splitlines())}
    assert statuses[entries[second.id]] == "lapsed" and statuses[entries[backup1.id]] == "won"


async def test_an_unpaid_win_that_expires_passes_its_unit_to_a_backup(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop = await create_draw(manual, operator, stock=1, backups=1, pay_window_seconds=60)
    crowd = await make_accounts(manual.app, 3)
    entries = await enter_all(client, drop["id"], crowd)
    manual.clock.advance(61)
    _, ranks, _ = await public_ranks(manual, drop["id"])
    winner, backup, _ = sorted(crowd, key=lambda a: ranks[entries[a.id]])
    assert (await purchase(client, drop["id"], winner.headers)).status_code == 201
    manual.clock.advance(61)  # bought, never paid: the order expires and the unit comes back

    async def turn() -> bool:
        entry = (await client.get(f"/api/drops/{drop['id']}/entry", headers=backup.headers)).json()
        return bool(entry["status"] == "won")

    await eventually(turn)
    assert (await purchase(client, drop["id"], backup.headers)).status_code == 201


async def test_an_fcode_buys_without_a_win_from_units_no_win_holds(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    employee = await make_account(manual.app, "employee")
    drop = await create_draw(manual, operator, stock=3, backups=0, priority_minutes=5)
    codes = await claim(client, employee)
    crowd = await make_accounts(manual.app, 5)
    await enter_all(client, drop["id"], crowd)
    # Before the draw an F-code takes a unit in the priority window: the draw shares out what is left.
    first = await purchase(client, drop["id"], employee.headers, fcode=codes[0]["code"])
    assert first.status_code == 201, first.text
    await pay(client, employee, first.json()["id"])
    manual.clock.advance(61)
    draw = await drawn(client, drop["id"])
    assert draw["winners"] == 2
    # After the draw every unit left is a winner's: an F-code finds none.
    assert is_problem(await purchase(client, drop["id"], employee.headers, fcode=codes[1]["code"]), 409, "sold_out")


async def written_ranks(session: AsyncSession, drop_id: int) -> tuple[int, int]:
    """Lines on the draw's pages (every entry's rank, written once) and rows in draw_ranks."""
    pages = (await session.execute(select(col(DrawPage.lines)).where(col(DrawPage.drop_id) == drop_id))).scalars()
    ranked = (await session.execute(select(func.count()).select_from(DrawRank).where(
        col(DrawRank.drop_id) == drop_id))).scalar_one()
    return sum(lines.count("\n") for lines in pages), ranked


async def test_the_draw_is_made_once_with_workers_racing(manual: Manual) -> None:
    client = manual.client
    services = services_of(manual.app)
    operator = await make_account(manual.app, "operator")
    drop = await create_draw(manual, operator, stock=2, backups=2)
    crowd = await make_accounts(manual.app, 20)
    await enter_all(client, drop["id"], crowd)
    record = await services.catalog.get(drop["id"])
    assert record is not None
    runtime = services.runtime
    runners = [DrawRunner(runtime.sessions, services.draw_runner.gate, services.catalog, services.loader,
                          runtime.clock) for _ in range(3)]
    manual.clock.advance(61)  # the app's own runner races these three
    first = await asyncio.gather(*(r.draw(record) for r in runners))
    # Past the lock (held a moment longer than it may take), the SQL transaction still makes it once.
    # The app's own runner may still be drawing here (it held the lock in the first round), so one of
    # these may be the one that makes it: once in all, counting the app's, which the writes below show.
    second = await asyncio.gather(*(r._draw_locked(record) for r in runners))
    assert sum(first) + sum(second) <= 1
    draw = await drawn(client, drop["id"])
    async with runtime.sessions() as session:
        ranks, ranked = await written_ranks(session, drop["id"])
        told = (await session.execute(select(func.count()).select_from(Message).where(
            col(Message.drop_id) == drop["id"], col(Message.kind) == "draw_result"))).scalar_one()
    assert ranks == told == draw["entries"] == 20
    assert ranked == 4  # winners' and backups' rows: the others' ranks are only on the draw's pages
    results = await runtime.redis.hgetall(runtime.keys.drop(drop["id"]).draw_results)
    assert len(results) == 4


async def test_a_draw_with_two_apps_racing_is_made_once(manual: Manual) -> None:
    """A second app (another worker process: its own services, the same Redis and database) runs its
    background loops beside the first; the draw is made once."""
    operator = await make_account(manual.app, "operator")
    drop = await create_draw(manual, operator, stock=1, backups=1)
    await enter_all(manual.client, drop["id"], await make_accounts(manual.app, 8))
    other = create_app(manual.settings, clock=manual.clock)
    async with other.router.lifespan_context(other):
        manual.clock.advance(61)
        draw = await drawn(manual.client, drop["id"])
        for app in (manual.app, other):  # each app's runner looks again: nothing more is drawn
            await services_of(app).draw_runner.step()
    async with services_of(manual.app).runtime.sessions() as session:
        ranks, ranked = await written_ranks(session, drop["id"])
    assert ranks == draw["entries"] == 8
    assert ranked == 2


async def test_the_operator_sees_linked_entries_and_voids_them_before_the_draw(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop = await create_draw(manual, operator, stock=2, backups=1)
    crowd = await make_accounts(manual.app, 6)  # created at once, entering from one address: linked twice over
    entries = await enter_all(client, drop["id"], crowd)
    admin = f"/api/admin/drops/{drop['id']}/draw"
    found: list[dict[str, Any]] = []

    async def recorded() -> bool:  # the sink wrote the entries to SQL
        answer = await client.get(f"{admin}/linked", headers=operator.headers)
        found[:] = answer.json()
        return len(found) == 6

    await eventually(recorded)
    assert all(set(e["reasons"]) == {"address", "burst"} for e in found)
    shopper = crowd[0]
    assert is_problem(await client.get(f"{admin}/linked", headers=shopper.headers), 403, "forbidden")
    void = [entries[crowd[0].id], entries[crowd[1].id]]
    assert is_problem(await client.post(f"{admin}/void", json={"entry_ids": void}, headers=shopper.headers), 403)
    assert is_problem(await client.post(f"{admin}/void", json={"entry_ids": ["nope"]}, headers=operator.headers),
                      404, "not_entered")
    answer = await client.post(f"{admin}/void", json={"entry_ids": void, "reason": "one farm"},
                               headers=operator.headers)
    assert answer.status_code == 200 and sorted(answer.json()["voided"]) == sorted(void)
    audit = (await client.get("/api/admin/audit", headers=operator.headers)).json()["items"]
    voidings = [a for a in audit if a["action"] == "draw.void"]
    assert sorted(a["target_id"] for a in voidings) == sorted(void)
    assert all(a["actor_id"] == operator.id and a["after"]["reason"] == "one farm" for a in voidings)
    mine = (await client.get(f"/api/drops/{drop['id']}/entry", headers=crowd[0].headers)).json()
    assert mine["voided"] is True and mine["status"] == "lost"
    manual.clock.advance(61)
    draw, ranks, _ = await public_ranks(manual, drop["id"])
    assert draw["voided"] == 2 and draw["entries"] == 4
    assert not set(void) & set(ranks)
    later = await client.post(f"{admin}/void", json={"entry_ids": [entries[crowd[2].id]]}, headers=operator.headers)
    assert is_problem(later, 409, "draw_made")
