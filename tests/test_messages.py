"""Reminders and messages (issue 22): the outbox written with its cause, sent once by email, retried,
dead letters for operators; reminder counts; drop-open at the right moment; payment received."""
from __future__ import annotations

import asyncio
import email
import email.policy
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.dev_mail import start_dev_mail
from core.settings import Settings
from messages.channels import EmailTransport, UnsubscribeLinks
from messages.drop_open import write_drop_open
from messages.mail import Letter, SmtpMailer, SmtpTarget, build
from messages.models import Delivery, Message
from messages.outbox import Draft, write
from messages.repository import Claimed
from messages.sender import OutboxSender, Transport
from messages.texts import Words
from sale.models import Drop
from sale.rush import SaleRush
from tests.support import (
    Account,
    buy,
    create_drop,
    eventually,
    iso,
    make_account,
    make_accounts,
    now,
    pay,
    runtime_of,
    services_of,
)
from tests.support.clock import Manual
from tests.support.fcodes import claim
from tests.support.mail import MailServer, another_worker_steps
from tests.support.queue import join
from tests.support.queue import ticket as queue_ticket


@pytest.fixture
def mailbox(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    """The session app's email channel pointed at a local SMTP server for this test."""
    mail_server = MailServer().start()
    runtime = runtime_of(app)
    settings = runtime.settings
    mailer = SmtpMailer(SmtpTarget.parse(mail_server.url), settings.mail_from, settings.mail_from_name, "test")
    transport = EmailTransport(mailer, settings.base_url, UnsubscribeLinks(settings.app_secret, settings.base_url),
                               runtime.clock)
    monkeypatch.setitem(services_of(app).transports, "email", transport)
    yield mail_server
    mail_server.stop()


async def my_messages(client: httpx.AsyncClient, who: Account) -> list[dict[str, object]]:
    response = await client.get("/api/me/messages", headers=who.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()
    return found


async def test_reminder_set_changed_cancelled_and_counted(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 3)
    drop = await create_drop(client, operator, starts_at=iso(now() + timedelta(hours=1)),
                             ends_at=iso(now() + timedelta(hours=2)))
    url = f"/api/drops/{drop['id']}/reminder"
    first = await client.put(url, json={"channels": ["email"]}, headers=buyers[0].headers)
    assert first.status_code == 200, first.text
    assert first.json()["drop_id"] == drop["id"] and first.json()["channels"] == ["email"]
    again = await client.put(url, json={"channels": ["email", "push"]}, headers=buyers[0].headers)
    assert again.json()["channels"] == ["email", "push"]
    assert again.json()["created_at"] == first.json()["created_at"]
    await asyncio.gather(*(client.put(url, json={"channels": ["email"]}, headers=b.headers) for b in buyers[1:]))
    shown = (await client.get(f"/api/drops/{drop['id']}")).json()
    assert shown["reservations"] == 3
    listed = {d["id"]: d for d in (await client.get("/api/drops")).json()}
    assert listed[drop["id"]]["reservations"] == 3
    assert (await client.delete(url, headers=buyers[2].headers)).status_code == 204
    assert (await client.delete(url, headers=buyers[2].headers)).status_code == 204  # idempotent
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["reservations"] == 2
    missing = await client.put("/api/drops/999999999/reminder", json={"channels": ["email"]},
                               headers=buyers[0].headers)
    assert missing.status_code == 404 and missing.json()["code"] == "drop_not_found"
    assert (await client.put(url, json={"channels": ["sms"]}, headers=buyers[0].headers)).status_code == 422
    assert (await client.put(url, json={"channels": ["email"]})).status_code == 401


async def test_drop_open_reaches_each_reminded_account_once(app: FastAPI, client: httpx.AsyncClient,
                                                            mailbox: MailServer) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 5)
    drop = await create_drop(client, operator, name="Mi MIX 2", starts_at=iso(now() + timedelta(seconds=2)),
                             ends_at=iso(now() + timedelta(hours=1)))
    url = f"/api/drops/{drop['id']}/reminder"
    for buyer in buyers[:4]:
        assert (await client.put(url, json={"channels": ["email"]}, headers=buyer.headers)).status_code == 200
    # One of them in Chinese: the message follows the language used when setting it.
    assert (await client.put(url, json={"channels": ["email"]},
                             headers={**buyers[3].headers, "Accept-Language": "zh-CN"})).status_code == 200

    async def all_told() -> bool:
        return all(mailbox.handler.to(b.email) for b in buyers[:4])

    await eventually(all_told, timeout=15)
    await another_worker_steps(app)  # more steps of a scheduler and a sender: still one each
    for buyer in buyers[:4]:
        mails = mailbox.handler.to(buyer.email)
        assert len(mails) == 1
        assert mails[0]["List-Unsubscribe"]
        body = mails[0].get_body(("plain",))
        assert body is not None and f"/drops/{drop['id']}" in body.get_content()
    assert "现已开售" in str(mailbox.handler.to(buyers[3].email)[0]["Subject"])
    assert not mailbox.handler.to(buyers[4].email)
    messages = await my_messages(client, buyers[0])
    opened = [m for m in messages if m["drop_id"] == drop["id"]]
    assert len(opened) == 1 and opened[0]["kind"] == "drop_open" and opened[0]["channels"] == {"email": "sent"}
    assert "Mi MIX 2" in str(opened[0]["text"])


async def test_payment_received_is_written_with_the_paid_order(app: FastAPI, client: httpx.AsyncClient,
                                                               mailbox: MailServer) -> None:
    operator = await make_account(app, "operator")
    buyer = await make_account(app)
    drop = await create_drop(client, operator, name="Redmi")
    order = await buy(client, buyer, drop["id"])
    await pay(client, buyer, order["id"])

    async def received() -> bool:
        return bool(mailbox.handler.to(buyer.email))

    await eventually(received, timeout=15)
    mail = mailbox.handler.to(buyer.email)[0]
    assert order["number"] and order["number"] in str(mail["Subject"])  # the number the buyer sees
    found = [m for m in await my_messages(client, buyer) if m["kind"] == "payment_received"]
    assert len(found) == 1 and found[0]["order_id"] == order["id"]


class Failing:
    def __init__(self) -> None:
        self.calls: list[int] = []  # delivery ids tried (other tests' pending deliveries may come first)

    async def deliver(self, item: Claimed) -> None:
        self.calls.append(item.delivery_id)
        raise ConnectionRefusedError("nobody listens")


class Counting:
    def __init__(self) -> None:
        self.sent: list[int] = []

    async def deliver(self, item: Claimed) -> None:
        await asyncio.sleep(0.01)
        self.sent.append(item.delivery_id)


async def _drafts(app: FastAPI, kind_key: str, count: int) -> tuple[list[Account], list[int]]:
    runtime = runtime_of(app)
    users = await make_accounts(app, count)
    drafts = [Draft(user_id=u.id, kind="operator_message", key=f"{kind_key}:{u.id}", channels=("email",),
                    params={"text": "hello", "drop_name": "x"}) for u in users]
    async with runtime.sessions.begin() as session:
        assert await write(session, drafts, runtime.clock.now()) == count
    async with runtime.sessions.begin() as session:  # written again: nothing new
        assert await write(session, drafts, runtime.clock.now()) == 0
    async with runtime.sessions() as session:
        ids = list((await session.execute(select(Delivery.id).join(Message, Message.id == Delivery.message_id)
                                          .where(Message.key.in_([d.key for d in drafts])))).scalars())
    return users, ids


async def test_retries_with_backoff_then_a_dead_letter_operators_see(manual: Manual) -> None:
    mapp = manual.app
    runtime = runtime_of(mapp)
    users, ids = await _drafts(mapp, f"dead-{manual.clock.now().timestamp()}", 1)
    failing = Failing()
    sender = OutboxSender(runtime.sessions, manual.clock, {"email": failing})
    for attempt in range(1, 9):
        while failing.calls.count(ids[0]) < attempt:  # due now, or after the backoff the clock is moved past
            await sender.step()
            manual.clock.advance(3600)
        async with runtime.sessions() as session:
            delivery = await session.get(Delivery, ids[0])
            assert delivery is not None and delivery.attempts == attempt
    assert delivery.status == "failed" and "nobody listens" in (delivery.last_error or "")
    operator = await make_account(mapp, "operator")
    dead = await manual.client.get("/api/admin/messages/dead", headers=operator.headers)
    assert dead.status_code == 200
    assert any(d["delivery_id"] == ids[0] and "nobody listens" in d["last_error"] for d in dead.json()["items"])
    assert (await manual.client.get("/api/admin/messages/dead", headers=users[0].headers)).status_code == 403
    retried = await manual.client.post(f"/api/admin/messages/dead/{ids[0]}/retry", headers=operator.headers)
    assert retried.status_code == 204
    counting = Counting()
    await OutboxSender(runtime.sessions, manual.clock, {"email": counting}).step()
    assert ids[0] in counting.sent


async def test_two_senders_never_send_one_delivery_twice(app: FastAPI) -> None:
    runtime = runtime_of(app)
    _, ids = await _drafts(app, f"race-{now().timestamp()}", 300)
    counting = Counting()
    transports: dict[str, Transport] = {"email": counting}
    senders = [OutboxSender(runtime.sessions, runtime.clock, transports) for _ in range(3)]
    for _ in range(5):
        await asyncio.gather(*(s.step() for s in senders))
    mine = [i for i in counting.sent if i in set(ids)]
    assert sorted(mine) == sorted(ids)  # every one, none twice
    async with runtime.sessions() as session:
        sent = (await session.execute(select(func.count()).select_from(Delivery).where(
            Delivery.id.in_(ids), Delivery.status == "sent"))).scalar_one()
    assert sent == len(ids)


def test_names_cannot_add_headers() -> None:
    letter = Letter(to="buyer@example.com", to_name="Eve\r\nBcc: victim@example.com",
                    words=Words("Hi\nBcc: x@example.com 你好", "body\r\n.\r\nMAIL FROM"), language="zh",
                    link="http://s/drops/1", unsubscribe="http://s/unsubscribe?t=1.x", message_key="k:1",
                    sent_at=now())
    raw = build(letter, "store@example.com", "Store\nX-Evil: 1", "example.com")
    assert b"\nBcc:" not in raw and b"\nX-Evil:" not in raw and b"\r\n.\r\n" not in raw
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "你好" in str(message["Subject"]) and message["To"].addresses[0].addr_spec == "buyer@example.com"
    plain, page = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and "MAIL FROM" in plain.get_content() and page is not None


async def test_unsubscribe_link_turns_email_off(app: FastAPI, client: httpx.AsyncClient) -> None:
    buyer = await make_account(app)
    settings = runtime_of(app).settings
    token = UnsubscribeLinks(settings.app_secret, settings.base_url).token(buyer.id)
    page = await client.get(f"/unsubscribe?t={token}")
    assert page.status_code == 200 and "<form" in page.text
    assert (await client.post(f"/unsubscribe?t={token}")).status_code == 200
    forged = await client.post(f"/unsubscribe?t={buyer.id}.{'0' * 32}")
    assert forged.status_code == 400 and forged.json()["code"] == "bad_unsubscribe_link"


async def test_local_mailbox_and_dev_mail_page(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await client.get("/dev/mail")).status_code == 404  # no local mailbox here
    monkeypatch.delenv("FLASHSALE_SMTP_URL", raising=False)
    monkeypatch.delenv("FLASHSALE_DEV_MAILBOX", raising=False)
    embedded = Settings(var_dir=tmp_path, jwt_secret="x" * 40, secret_key="y" * 40, database_url="", redis_url="")
    controller = start_dev_mail(embedded, lambda _: None)
    assert controller is not None
    try:
        target = SmtpTarget.parse(os.environ["FLASHSALE_SMTP_URL"])
        mailer = SmtpMailer(target, "store@example.com", "Store", "example.com")
        await mailer.send(Letter(to="a@example.com", to_name="<b>Ann</b>", words=Words("Hello <i>", "Body <script>"),
                                 language="en", link="http://s/", unsubscribe="http://s/unsubscribe?t=1.x",
                                 message_key="k:2", sent_at=now()))
        await mailer.close()
        maildir = Path(os.environ["FLASHSALE_DEV_MAILBOX"])
        monkeypatch.setattr(runtime_of(app).settings, "dev_mailbox", maildir)
        page = await client.get("/dev/mail")
        assert page.status_code == 200
        assert "Hello &lt;i&gt;" in page.text and "<script>" not in page.text and "a@example.com" in page.text
        monkeypatch.setattr(runtime_of(app).settings, "env", "production")
        assert (await client.get("/dev/mail")).status_code == 404
    finally:
        controller.stop()
    production = Settings(var_dir=tmp_path, env="production", jwt_secret="x" * 40, secret_key="y" * 40)
    assert start_dev_mail(production, lambda _: None) is None


async def test_a_gifted_fcode_tells_its_recipient(app: FastAPI, client: httpx.AsyncClient) -> None:
    employee, friend = await make_account(app, "employee"), await make_account(app)
    code = (await claim(client, employee))[0]["code"]
    gifted = await client.post(f"/api/fcodes/{code}/gift", json={"email": friend.email}, headers=employee.headers)
    assert gifted.status_code == 200, gifted.text
    told = [m for m in await my_messages(client, friend) if m["kind"] == "fcode_given"]
    assert len(told) == 1 and code[-4:] in str(told[0]["text"])
    assert set(told[0]["channels"]) <= {"email", "push"}
    assert code not in str(told[0]["text"])  # the whole code stays out of the outbox's rows


async def test_reservation_only_window(manual: Manual) -> None:
    client, clock = manual.client, manual.clock
    operator = await make_account(manual.app, "operator")
    planned, late, walk_in = await make_accounts(manual.app, 3)
    starts = clock.now() + timedelta(minutes=5)
    drop = await create_drop(client, operator, stock=10, starts_at=iso(starts),
                             ends_at=iso(starts + timedelta(hours=1)), reservation_only_minutes=10)
    assert drop["reservation_only_minutes"] == 10
    url = f"/api/drops/{drop['id']}/reminder"
    assert (await client.put(url, json={"channels": ["email"]}, headers=planned.headers)).status_code == 200
    clock.set(starts + timedelta(seconds=1))
    assert (await client.put(url, json={"channels": ["email"]}, headers=late.headers)).status_code == 200
    buy_url = f"/api/drops/{drop['id']}/purchase"
    assert (await client.post(buy_url, json={"quantity": 1}, headers=planned.headers)).status_code == 201
    for who in (late, walk_in):
        refused = await client.post(buy_url, json={"quantity": 1}, headers=who.headers)
        assert refused.status_code == 403 and refused.json()["code"] == "reservation_required"
    await runtime_of(manual.app).redis.delete(runtime_of(manual.app).keys.reserved(drop["id"]))  # lost: from SQL
    refused = await client.post(buy_url, json={"quantity": 1}, headers=late.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "reservation_required"
    clock.set(starts + timedelta(minutes=10, seconds=1))
    assert (await client.post(buy_url, json={"quantity": 1}, headers=walk_in.headers)).status_code == 201


async def test_a_ticket_with_a_channel_waits_without_polls_and_is_told(manual: Manual) -> None:
    client, clock = manual.client, manual.clock
    operator = await make_account(manual.app, "operator")
    told, silent = await make_accounts(manual.app, 2)
    starts = clock.now() + timedelta(minutes=15)
    drop = await create_drop(client, operator, starts_at=iso(starts), ends_at=iso(starts + timedelta(hours=1)),
                             waiting_room=True, challenge=False, stock=10, prequeue_minutes=20)
    assert (await client.put(f"/api/drops/{drop['id']}/reminder", json={"channels": ["email"]},
                             headers=told.headers)).status_code == 200
    for who in (told, silent):
        joined = await join(manual.app, drop["id"], who)
        assert joined.status_code in (200, 201), joined.text
    clock.set(starts + timedelta(minutes=10))  # nobody polls for 25 minutes, 10 of them after the start

    async def told_in_messages() -> bool:
        return any(m["kind"] == "admitted" for m in await my_messages(client, told))

    await eventually(told_in_messages, timeout=10)
    mine = await queue_ticket(client, drop["id"], told)
    assert mine["status"] == "admitted"
    until = datetime.fromisoformat(mine["admitted_until"].replace("Z", "+00:00"))
    assert until >= clock.now() + timedelta(minutes=5) - timedelta(seconds=2)
    assert (await queue_ticket(client, drop["id"], silent))["status"] == "expired"
    assert not any(m["kind"] == "admitted" for m in await my_messages(client, silent))


async def test_metrics_show_the_outbox(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def shown() -> bool:
        text = (await client.get("/metrics")).text
        return "flashsale_outbox_backlog" in text and "flashsale_messages_total" in text

    await eventually(shown, timeout=10)


async def test_a_given_fcode_shows_in_the_recipients_list(app: FastAPI, client: httpx.AsyncClient) -> None:
    giver, friend = await make_account(app, "employee"), await make_account(app, "employee")
    code = (await claim(client, giver))[0]["code"]
    assert (await client.post(f"/api/fcodes/{code}/gift", json={"email": friend.email},
                              headers=giver.headers)).status_code == 200

    async def listed() -> bool:
        codes = (await client.get("/api/fcodes", headers=friend.headers)).json()
        return any(c["code"] == code and c["given_by"] == giver.email for c in codes)

    await eventually(listed, timeout=10)
    mine = {c["code"]: c for c in (await client.get("/api/fcodes", headers=giver.headers)).json()}
    assert mine[code]["given_by"] is None and mine[code]["gifted_to"] == friend.email
    assert (await client.delete(f"/api/fcodes/{code}/gift", headers=giver.headers)).status_code == 200

    async def gone() -> bool:
        codes = (await client.get("/api/fcodes", headers=friend.headers)).json()
        return all(c["code"] != code for c in codes)

    await eventually(gone, timeout=10)


async def test_fcode_holders_are_told_at_the_priority_window_others_at_the_start(manual: Manual) -> None:
    client, clock = manual.client, manual.clock
    operator = await make_account(manual.app, "operator")
    holder, buyer = await make_account(manual.app, "employee"), await make_account(manual.app)
    await claim(client, holder)
    starts = clock.now() + timedelta(minutes=30)
    drop = await create_drop(client, operator, starts_at=iso(starts), ends_at=iso(starts + timedelta(hours=1)),
                             priority_minutes=10)
    for who in (holder, buyer):
        assert (await client.put(f"/api/drops/{drop['id']}/reminder", json={"channels": ["email"]},
                                 headers=who.headers)).status_code == 200

    async def opened(who: Account) -> int:
        return sum(m["kind"] == "drop_open" and m["drop_id"] == drop["id"] for m in await my_messages(client, who))

    clock.set(starts - timedelta(minutes=10) + timedelta(seconds=1))

    async def holder_told() -> bool:
        return await opened(holder) == 1

    await eventually(holder_told, timeout=10)
    await asyncio.sleep(0.5)
    assert await opened(buyer) == 0
    clock.set(starts + timedelta(seconds=1))

    async def buyer_told() -> bool:
        return await opened(buyer) == 1

    await eventually(buyer_told, timeout=10)
    await asyncio.sleep(0.5)
    assert await opened(holder) == 1  # once


async def test_drop_open_is_written_in_chunks_each_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    runtime = runtime_of(app)
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 5)
    drop = await create_drop(client, operator, starts_at=iso(now() + timedelta(hours=1)),
                             ends_at=iso(now() + timedelta(hours=2)))
    for who in buyers:
        assert (await client.put(f"/api/drops/{drop['id']}/reminder", json={"channels": ["email"]},
                                 headers=who.headers)).status_code == 200
    at, written = now(), []
    for _ in range(4):
        async with runtime.sessions.begin() as session:
            written.append(await write_drop_open(session, drop["id"], {"drop_name": "x"}, at,
                                                 at + timedelta(seconds=1), limit=2))
    assert written == [2, 2, 1, 0]
    async with runtime.sessions() as session:
        deliveries = (await session.execute(select(func.count()).select_from(Delivery).join(
            Message, Message.id == Delivery.message_id).where(Message.drop_id == drop["id"]))).scalar_one()
    assert deliveries == 5


async def _deliveries_of(app: FastAPI, key: str) -> list[int]:
    async with runtime_of(app).sessions() as session:
        return list((await session.execute(select(Delivery.id).join(Message, Message.id == Delivery.message_id)
                                           .where(Message.key == key, Delivery.channel == "email"))).scalars())


async def test_receipts_wait_while_a_sale_rushes_timely_messages_do_not(manual: Manual) -> None:
    """During a drop's first minute, while units are left, the sender sends only what has a deadline;
    the receipt goes once the drop sells out or the minute is over, whichever comes first."""
    mapp, client, clock = manual.app, manual.client, manual.clock
    services = services_of(mapp)
    runtime = runtime_of(mapp)
    operator = await make_account(mapp, "operator")
    first, second, third, waiting = await make_accounts(mapp, 4)
    mine: set[int] = set()  # this test's drops only: other tests' drops on the same clock may rush too

    class TheseDrops:
        async def current(self) -> list[Drop]:
            return [d for d in await services.catalog.current() if d.id in mine]

    rush = SaleRush(TheseDrops(), services.inventory, clock, seconds=60)
    counting = Counting()
    # The rush asked at every step: the test moves the clock, not time.
    sender = OutboxSender(runtime.sessions, clock, {"email": counting}, rush=rush.on, rush_check_seconds=0)

    async def sent_after_a_step(ids: list[int]) -> bool:
        for _ in range(5):  # other tests' due deliveries may fill a batch or two first
            if not await sender.step():
                break
        return set(ids) <= set(counting.sent)

    async def opened_and_paid(stock: int, buyer: Account) -> tuple[int, list[int]]:
        """A drop opened a moment ago, one unit bought and paid: its id and the receipt's deliveries."""
        drop = await create_drop(client, operator, stock=stock, starts_at=iso(clock.now() - timedelta(seconds=1)),
                                 ends_at=iso(clock.now() + timedelta(hours=1)))
        mine.add(drop["id"])
        order = await buy(client, buyer, drop["id"])
        await pay(client, buyer, order["id"])
        key = f"payment_received:{order['id']}"

        async def written() -> bool:
            return bool(await _deliveries_of(mapp, key))

        await eventually(written, timeout=10)  # the sink writes it with the paid order
        return drop["id"], await _deliveries_of(mapp, key)

    # Drop A: open, units left: a rush. Its receipt waits; an "admitted" message (a deadline) goes.
    _, receipt_a = await opened_and_paid(5, first)
    async with runtime.sessions.begin() as session:
        await write(session, [Draft(user_id=waiting.id, kind="admitted", key=f"admitted:rush:{waiting.id}",
                                    channels=("email",), params={"drop_name": "A", "until": "soon"})],
                    clock.now())
    timely = await _deliveries_of(mapp, f"admitted:rush:{waiting.id}")
    assert await sent_after_a_step(timely)
    for _ in range(3):
        assert not await sent_after_a_step(receipt_a)
    # A minute after the open the rush is over, units left or not: the receipt goes.
    clock.advance(61)
    assert await sent_after_a_step(receipt_a)

    # Drop B: a rush again; selling its last unit ends it before the minute is out.
    drop_b, receipt_b = await opened_and_paid(2, second)
    assert not await sent_after_a_step(receipt_b)
    await buy(client, third, drop_b)  # sold out: the crowd has nothing left to take
    assert await sent_after_a_step(receipt_b)
