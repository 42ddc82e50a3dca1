"""Issue 22's figures: N reminders on one drop -> every "open" message in the outbox (the scheduler's
step, timed from the open), then the sender delivering them to a local SMTP server (aiosmtpd writing a
Maildir in a process of its own, as the embedded defaults' mailbox does), in messages per second.

    .venv/bin/python scripts/bench_messages.py [--reminders 100000] [--send 20000] [--database-url URL]

On a fresh SQLite file in a temporary directory unless --database-url names a PostgreSQL database
(its tables are made by the migrations; the script's rows are left there). No Redis needed.
"""
from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text, update

from accounts.models import User
from core.clock import SYSTEM_CLOCK
from core.db import make_engine, make_sessionmaker
from core.migrate import upgrade
from core.net import free_port
from core.settings import Settings
from messages.channels import EmailTransport, UnsubscribeLinks
from messages.mail import SmtpMailer, SmtpTarget
from messages.models import Delivery, Message, Reminder
from messages.sender import OutboxSender
from sale.models import Drop
from sale.reminders import DropOpenings


class OneDrop:
    """What DropOpenings reads of the catalog: the one drop."""

    def __init__(self, drop: Drop) -> None:
        self.drop = drop

    async def current(self) -> list[Drop]:
        return [self.drop]


class NoCounts:
    async def rewrite(self, counts: dict[int, int]) -> None:
        return None


async def run(settings: Settings, reminders: int, send: int, var: Path, port: int) -> None:
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    now = SYSTEM_CLOCK.now()
    tag = int(time.time())
    started = time.perf_counter()
    async with sessions.begin() as session:
        drop = Drop(sku=f"bench-{tag}", name="Mi MIX 2", price_cents=1, currency="CNY", stock=1000,
                    priority_starts_at=now + timedelta(seconds=1), starts_at=now + timedelta(seconds=1),
                    ends_at=now + timedelta(hours=1))
        session.add(drop)
        await session.flush()
        first = (await session.execute(select(func.coalesce(func.max(User.id), 0)))).scalar_one() + 1
        for start in range(0, reminders, 10_000):
            count = min(10_000, reminders - start)
            await session.execute(insert(User), [{"email": f"r{tag}-{start + i}@example.com", "password_hash": "x",
                                                  "role": "shopper", "token_version": 0, "created_at": now}
                                                 for i in range(count)])
        ids = list((await session.execute(select(User.id).where(User.id >= first))).scalars())
        for start in range(0, len(ids), 10_000):
            await session.execute(insert(Reminder), [{"user_id": u, "drop_id": drop.id, "email": True, "push": False,
                                                      "created_at": now} for u in ids[start:start + 10_000]])
        # The open: a second from now (after the set-up, which took a while).
        drop.starts_at = drop.priority_starts_at = SYSTEM_CLOCK.now() + timedelta(seconds=1)
    if not settings.is_sqlite:
        # Reminders come over days, and autovacuum analyses the table meanwhile; rows inserted a moment
        # ago have no statistics yet, and the planner's guess of "no rows" picks nested loops.
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE users, reminders, messages, message_deliveries"))
            await connection.commit()
    print(f"{len(ids):,} accounts with a reminder made in {time.perf_counter() - started:.1f} s")

    openings = DropOpenings(sessions, OneDrop(drop), SYSTEM_CLOCK, NoCounts(), interval_seconds=0.25)  # type: ignore[arg-type]
    task = asyncio.create_task(openings.run())
    opens = drop.starts_at.timestamp()
    async with sessions() as session:
        while True:
            await asyncio.sleep(0.05)
            written = (await session.execute(select(func.count()).select_from(Message).where(
                Message.drop_id == drop.id))).scalar_one()
            if written >= len(ids):
                break
    in_outbox = time.time() - opens
    task.cancel()
    print(f"every open message in the outbox {in_outbox:.2f} s after the open ({written:,} messages, "
          f"{written:,} email deliveries)")

    # Delivery: the first `send` of them sent, the rest set aside (not due) so the rate is of a fixed count.
    async with sessions.begin() as session:
        keep = select(Delivery.id).join(Message, Message.id == Delivery.message_id).where(
            Message.drop_id == drop.id).order_by(Delivery.id).limit(send).scalar_subquery()
        await session.execute(update(Delivery).where(Delivery.id.not_in(keep), Delivery.status == "pending")
                              .values(due_at=now + timedelta(days=1)))
    maildir = var / "mail"
    mailer = SmtpMailer(SmtpTarget.parse(f"smtp://127.0.0.1:{port}"), "store@example.com", "Store", "example.com")
    transport = EmailTransport(mailer, "http://127.0.0.1:8000", UnsubscribeLinks(b"k", "http://127.0.0.1:8000"),
                               SYSTEM_CLOCK)
    sender = OutboxSender(sessions, SYSTEM_CLOCK, {"email": transport})
    started, sent = time.perf_counter(), 0
    while sent < send:
        step = await sender.step()
        if not step:
            break
        sent += step
    seconds = time.perf_counter() - started
    await mailer.close()
    delivered = sum(1 for _ in (maildir / "new").iterdir())
    print(f"{sent:,} emails sent in {seconds:.1f} s: {sent / seconds:,.0f} messages/s "
          f"({delivered:,} in the local Maildir)")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--send", type=int, default=20_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        settings = Settings(var_dir=var, database_url=args.database_url, jwt_secret="b" * 40, secret_key="b" * 40,
                            log_level="warning")
        upgrade(settings)
        port = free_port()
        # The local mailbox in a process of its own, as `flashsale serve` runs it apart from its workers.
        smtp = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",  # noqa: S603
                                 "-c", "app.dev_mail.RawMaildir", str(var / "mail")])
        try:
            time.sleep(1.5)
            asyncio.run(run(settings, args.reminders, args.send, var, port))
        finally:
            smtp.terminate()
            smtp.wait()


if __name__ == "__main__":
    main()
