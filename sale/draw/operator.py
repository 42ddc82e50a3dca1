"""The operator before the draw: entries that look linked, and voiding them (each voiding audited in the
transaction that records it; the draw leaves voided entries out, and publishes how many there were).

Linked: entries from one client address tag (its block, keyed-hashed: no address is shown), and
accounts created in a burst (BURST_ACCOUNTS or more created within BURST_SECONDS of each other).
Payment fingerprints would link entries too, but no payment provider here gives one yet."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from accounts.models import User
from audit.repository import AuditRepository
from audit.schemas import Actor, Change
from core.clock import Clock, as_utc
from sale.catalog import DropCatalog
from sale.draw.exceptions import DrawMade, NotADraw, NotEntered
from sale.draw.gate import DrawGate
from sale.draw.models import DrawEntry
from sale.draw.schemas import LinkedEntry, VoidOut
from sale.exceptions import DropNotFound

BURST_SECONDS = 60
BURST_ACCOUNTS = 5


def bursts(created: list[tuple[int, datetime]]) -> dict[int, str]:
    """user id -> its burst's label, for runs of BURST_ACCOUNTS or more accounts each created within
    BURST_SECONDS of the previous one."""
    found: dict[int, str] = {}
    ordered = sorted(created, key=lambda item: item[1])
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i][1] - ordered[i - 1][1] > timedelta(seconds=BURST_SECONDS):
            if i - start >= BURST_ACCOUNTS:
                label = f"burst {ordered[start][1].isoformat(timespec='seconds')}"
                for user_id, _ in ordered[start:i]:
                    found[user_id] = label
            start = i
    return found


class DrawOperator:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], gate: DrawGate, catalog: DropCatalog,
                 clock: Clock) -> None:
        self.sessions = sessions
        self.gate = gate
        self.catalog = catalog
        self.clock = clock

    async def _draw_drop(self, drop_id: int) -> None:
        drop = await self.catalog.get(drop_id)
        if drop is None:
            raise DropNotFound()
        if drop.mode != "draw":
            raise NotADraw()

    async def linked(self, drop_id: int) -> list[LinkedEntry]:
        """Standing entries (as the sink recorded them) that share an address tag or came from accounts
        created in a burst, grouped."""
        await self._draw_drop(drop_id)
        async with self.sessions() as session:
            rows = (await session.execute(
                select(DrawEntry, col(User.email), col(User.created_at)).join(User, col(User.id) == col(
                    DrawEntry.user_id)).where(col(DrawEntry.drop_id) == drop_id,
                                              col(DrawEntry.status) == "entered"))).all()
        by_address: dict[str, list[int]] = defaultdict(list)
        for n, (entry, _, _) in enumerate(rows):
            if entry.address:
                by_address[entry.address].append(n)
        reasons: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for tag, members in by_address.items():
            if len(members) > 1:
                for n in members:
                    reasons[n].append(("address", f"address {tag[:8]}"))
        burst = bursts([(entry.user_id, as_utc(created)) for entry, _, created in rows])
        for n, (entry, _, _) in enumerate(rows):
            if entry.user_id in burst:
                reasons[n].append(("burst", burst[entry.user_id]))
        out = []
        for n in sorted(reasons, key=lambda i: (reasons[i][0][1], rows[i][0].id)):
            entry, email, created = rows[n]
            out.append(LinkedEntry(entry_id=entry.id, user_id=entry.user_id, email=email,
                                   created_at=as_utc(created), reasons=[kind for kind, _ in reasons[n]],
                                   group="; ".join(label for _, label in reasons[n])))
        return out

    async def void(self, drop_id: int, entry_ids: list[str], reason: str, actor: Actor) -> VoidOut:
        """Voids the entries before the draw: one audit entry each, in the transaction that records the
        voiding; the draw made meanwhile refuses it all (draw_made) and nothing is recorded."""
        await self._draw_drop(drop_id)
        now = self.clock.now()
        voided: list[str] = []
        async with self.sessions.begin() as session:
            entries = (await session.execute(select(DrawEntry).where(
                col(DrawEntry.drop_id) == drop_id, col(DrawEntry.id).in_(entry_ids)))).scalars().all()
            if len(entries) != len(set(entry_ids)):
                raise NotEntered()
            audit = AuditRepository(session)
            for entry in entries:
                reply = await self.gate.entry_action(drop_id, "void", entry.user_id)
                if reply.outcome == "drawn":
                    raise DrawMade()
                if reply.outcome != "voided":
                    continue  # withdrawn or voided already
                entry.status, entry.changed_at = "voided", now
                await audit.record(actor, Change("draw.void", "draw_entry", entry.id,
                                                 before={"status": "entered", "drop_id": drop_id},
                                                 after={"status": "voided", "drop_id": drop_id,
                                                        "reason": reason or None}), now)
                voided.append(entry.id)
        return VoidOut(voided=voided)
