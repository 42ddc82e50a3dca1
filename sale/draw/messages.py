"""The draw's messages, written to the outbox in the transaction that records what caused them: every
entrant's result with the draw's ranks (one INSERT ... SELECT over the ranks just written: a million
entrants are the database's work, not a loop here), and a backup's turn with the turn."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from sqlalchemy import DateTime, String, and_, cast, exists, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from messages.models import Delivery, Message, PushSubscription
from messages.outbox import Draft, write
from sale.draw.models import DrawRank


async def write_results(session: AsyncSession, drop_id: int, drop_name: str, buy_until: datetime,
                        now: datetime) -> int:
    """"The draw is made: won / backup / lost" for every ranked entrant of the drop (keyed by drop and
    account: written once), with an email delivery each and a push delivery where the account has a
    subscription."""
    key = literal(f"draw_result:{drop_id}:") + cast(DrawRank.user_id, String)
    head = orjson.dumps({"drop_name": drop_name, "until": _when(buy_until)}).decode()[:-1]  # '{...' without "}"
    params = (literal(head + ',"result":"') + cast(DrawRank.status, String) + literal('","rank":')
              + cast(DrawRank.rank, String) + literal("}"))
    at = literal(now, type_=DateTime(timezone=True))
    source = select(col(DrawRank.user_id), literal("draw_result"), key, literal(drop_id), params, at).where(
        col(DrawRank.drop_id) == drop_id).order_by(col(DrawRank.user_id))  # the key index grows in order
    result = await session.execute(insert(Message).from_select(
        ["user_id", "kind", "key", "drop_id", "params", "created_at"], source))
    added = int(result.rowcount or 0)  # type: ignore[attr-defined]
    mine = and_(col(Message.drop_id) == drop_id, col(Message.kind) == "draw_result", col(Message.created_at) == at)
    await session.execute(insert(Delivery).from_select(
        ["message_id", "channel", "status", "attempts", "due_at"],
        select(col(Message.id), literal("email"), literal("pending"), literal(0), at).where(mine)))
    subscribed = exists().where(col(PushSubscription.user_id) == col(Message.user_id))
    await session.execute(insert(Delivery).from_select(
        ["message_id", "channel", "status", "attempts", "due_at"],
        select(col(Message.id), literal("push"), literal("pending"), literal(0), at).where(mine, subscribed)))
    return added


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def write_turns(session: AsyncSession, drop_id: int, drop_name: str, turns: Sequence[tuple[int, int, int]],
                      now: datetime) -> int:
    """A backup's turn came: (user id, rank, buy_until ms) each told once (keyed by drop and account)."""
    drafts = [Draft(user_id=user_id, kind="draw_result", key=f"draw_turn:{drop_id}:{user_id}", drop_id=drop_id,
                    params={"drop_name": drop_name, "result": "turn", "rank": rank,
                            "until": _when(datetime.fromtimestamp(until / 1000, UTC))})
              for user_id, rank, until in turns]
    return await write(session, drafts, now)
