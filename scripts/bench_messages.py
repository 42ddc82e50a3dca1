"""Issue 22's figures: N reminders on one drop -> every "open" message in the outbox (the scheduler's
step, timed from the open), then the sender delivering them to a local SMTP server (aiosmtpd writing a
Maildir in a process of its own, as the embedded defaults' mailbox does), in messages per second.

The drop opens `--lead` seconds after the reminders are made: the scheduler stages the messages in
that time (messages/drop_open.py, from STAGE_AHEAD before the open), `--late` more reminders are set
just before the open (written by the open's own pass), and the figure is from the open to the moment
the open's pass is done with every message in the outbox. `--no-stage` writes nothing ahead: the
whole write after the open (the figure before staging).

    .venv/bin/python scripts/bench_messages.py [--reminders 100000] [--late 1000] [--lead 15] [--no-stage]
        [--send 20000] [--database-url URL]

On a fresh SQLite file in a temporary directory unless --database-url names a PostgreSQL database
(its tables are made by the migrations; the script's rows are left there, so give it a fresh database
each run: the sender sends whatever is due in it). No Redis needed.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from core.clock import SYSTEM_CLOCK
from core.db import make_engine, make_sessionmaker
from core.migrate import upgrade
from core.net import free_port
from core.settings import Settings
from messages.channels import EmailTransport, UnsubscribeLinks
from messages.drop_open import STAGE_AHEAD
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


async def make_reminders(session: AsyncSession, drop_id: int, count: int, tag: str, now: datetime) -> list[int]:
    first = (await session.execute(select(func.coalesce(func.max(User.id), 0)))).scalar_one() + 1
    for start in range(0, count, 10_000):
        await session.execute(insert(User), [{"email": f"r{tag}-{start + i}@example.com", "password_hash": "x",
                                              "role": "shopper", "token_version": 0, "created_at": now}
                                             for i in range(min(10_000, count - start))])
    ids = list((await session.execute(select(User.id).where(User.id >= first))).scalars())
    for start in range(0, len(ids), 10_000):
        await session.execute(insert(Reminder), [{"user_id": u, "drop_id": drop_id, "email": True, "push": False,
                                                  "created_at": now} for u in ids[start:start + 10_000]])
    return ids


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(settings: Settings, reminders: int, late: int, lead: float, no_stage: bool, send: int, var: Path,
              port: int, smtp_pid: int) -> None:
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
        ids = await make_reminders(session, drop.id or 0, reminders, str(tag), now)
        # The open: `lead` seconds from now (after the set-up, which took a while).
        drop.starts_at = drop.priority_starts_at = SYSTEM_CLOCK.now() + timedelta(seconds=max(lead, 1.0))
    if not settings.is_sqlite:
        # Reminders come over days, and autovacuum analyses the table meanwhile; rows inserted a moment
        # ago have no statistics yet, and the planner's guess of "no rows" picks nested loops.
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE users, reminders, messages, message_deliveries"))
            await connection.commit()
    print(f"{len(ids):,} accounts with a reminder made in {time.perf_counter() - started:.1f} s")

    openings = DropOpenings(sessions, OneDrop(drop), SYSTEM_CLOCK, NoCounts(), interval_seconds=0.25,  # type: ignore[arg-type]
                            stage_ahead=timedelta(0) if no_stage else STAGE_AHEAD)
    task = asyncio.create_task(openings.run())
    opens = drop.starts_at.timestamp()
    staged_after: float | None = None
    async with sessions() as session:
        while time.time() < opens - max(1.0, lead / 3) and staged_after is None:
            await asyncio.sleep(0.05)
            staged = (await session.execute(select(func.count()).select_from(Message).where(
                Message.drop_id == drop.id))).scalar_one()
            if staged >= len(ids):
                staged_after = time.perf_counter() - started
                print(f"{staged:,} messages staged {staged_after:.1f} s after the set-up began, "
                      f"{opens - time.time():.1f} s before the open")
        await session.rollback()
    if late:  # reminders set after the staging, just before the open
        await asyncio.sleep(max(0.0, opens - 0.3 - time.time()))
        async with sessions.begin() as session:
            ids += await make_reminders(session, drop.id or 0, late, f"{tag}-late", SYSTEM_CLOCK.now())
        print(f"{late:,} more reminders set {opens - time.time():.1f} s before the open")
    async with sessions() as session:
        while True:
            await asyncio.sleep(0.02)
            if not openings.done(drop.id or 0, "open"):
                continue
            written = (await session.execute(select(func.count()).select_from(Message).where(
                Message.drop_id == drop.id))).scalar_one()
            due = (await session.execute(select(func.count()).select_from(Delivery).join(
                Message, Message.id == Delivery.message_id).where(
                Message.drop_id == drop.id, Delivery.due_at <= SYSTEM_CLOCK.now()))).scalar_one()
            if written >= len(ids):
                break
    in_outbox = time.time() - opens
    task.cancel()
    print(f"every open message in the outbox {in_outbox:.2f} s after the open ({written:,} messages, "
          f"{due:,} email deliveries due)")

    # Delivery: the first `send` of them sent, the rest set aside (not due) so the rate is of a fixed count.
    async with sessions.begin() as session:
        mine = select(Message.id).where(Message.drop_id == drop.id)
        cutoff = (await session.execute(select(Delivery.id).where(Delivery.message_id.in_(mine))
                                        .order_by(Delivery.id).offset(send).limit(1))).scalar_one_or_none()
        if cutoff is not None:
            await session.execute(update(Delivery).where(Delivery.id >= cutoff, Delivery.message_id.in_(mine))
                                  .values(due_at=now + timedelta(days=1)))
    maildir = var / "mail"
    mailer = SmtpMailer(SmtpTarget.parse(f"smtp://127.0.0.1:{port}"), "store@example.com", "Store", "example.com")
    transport = EmailTransport(mailer, "http://127.0.0.1:8000", UnsubscribeLinks(b"k", "http://127.0.0.1:8000"),
                               SYSTEM_CLOCK)
    sender = OutboxSender(sessions, SYSTEM_CLOCK, {"email": transport})
    started, cpu, server_cpu = time.perf_counter(), time.process_time(), cpu_seconds(smtp_pid)
    sent = await sender.drain()  # what the messages process's loop runs: every due delivery, then a pause
    seconds = time.perf_counter() - started
    cpu, server_cpu = time.process_time() - cpu, cpu_seconds(smtp_pid) - server_cpu
    await mailer.close()
    delivered = sum(1 for _ in (maildir / "new").iterdir())
    print(f"{sent:,} emails sent in {seconds:.1f} s: {sent / seconds:,.0f} messages/s "
          f"({delivered:,} in the local Maildir; CPU per message: sender {cpu / sent * 1000:.2f} ms, "
          f"SMTP server {server_cpu / sent * 1000:.2f} ms)")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--late", type=int, default=1_000)
    parser.add_argument("--lead", type=float, default=15.0)
    parser.add_argument("--no-stage", action="store_true", help="nothing written ahead: the open writes all")
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
            asyncio.run(run(settings, args.reminders, args.late, args.lead, args.no_stage, args.send, var, port,
                            smtp.pid))
        finally:
            smtp.terminate()
            smtp.wait()


if __name__ == "__main__":
    main()
