"""The draw's messages, written to the outbox in the transaction that records what caused them: every
entrant's result (in one INSERT ... SELECT over the list of their accounts: a million entrants are the
database's work, not a loop here, done while the draw ranks them), and a backup's turn with the turn."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from messages.outbox import Draft, write

# Every entrant: message, email delivery, push delivery where subscribed.
# SQLite holds its one writer's lock from the transaction's first write, so no other message can take
# an id between `after` (read once that lock is held) and these rows.
_SQLITE = (
    "INSERT INTO messages (user_id, kind, key, drop_id, params, created_at) "
    "SELECT value, 'draw_result', :prefix || value, :drop_id, :params, :at FROM json_each(:ids)",
    "INSERT INTO message_deliveries (message_id, channel, status, attempts, due_at) "
    "SELECT id, 'email', 'pending', 0, :at FROM messages WHERE id > :after",
    "INSERT INTO message_deliveries (message_id, channel, status, attempts, due_at) "
    "SELECT id, 'push', 'pending', 0, :at FROM messages "
    "WHERE id > :after AND user_id IN (SELECT user_id FROM push_subscriptions)",
)
# PostgreSQL: ids come from a sequence others draw from too, so the deliveries find this draw's messages
# by drop, kind and time (the drop_id index).
_POSTGRESQL = (
    "INSERT INTO messages (user_id, kind, key, drop_id, params, created_at) "
    "SELECT u, 'draw_result', CAST(:prefix AS text) || u, CAST(:drop_id AS integer), CAST(:params AS text), "
    "CAST(:at AS timestamptz) FROM unnest(CAST(:ids AS integer[])) AS u",
    "INSERT INTO message_deliveries (message_id, channel, status, attempts, due_at) "
    "SELECT id, 'email', 'pending', 0, CAST(:at AS timestamptz) FROM messages "
    "WHERE drop_id = CAST(:drop_id AS integer) AND kind = 'draw_result' AND created_at = CAST(:at AS timestamptz)",
    "INSERT INTO message_deliveries (message_id, channel, status, attempts, due_at) "
    "SELECT id, 'push', 'pending', 0, CAST(:at AS timestamptz) FROM messages "
    "WHERE drop_id = CAST(:drop_id AS integer) AND kind = 'draw_result' AND created_at = CAST(:at AS timestamptz) "
    "AND user_id IN (SELECT user_id FROM push_subscriptions)",
)


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _key(drop_id: int, user_id: int) -> str:
    return f"draw_result:{drop_id}:{user_id}"


async def write_results(session: AsyncSession, drop_id: int, drop_name: str, now: datetime,
                        entrants: list[int]) -> int:
    """"The draw is made: not this time" for every entrant of the drop (keyed by drop and account: written
    once), with an email delivery each and a push delivery where the account has a subscription; the
    winners' and backups' words are put in by `tell_ranked`, in the same transaction. `entrants`: their
    accounts in ascending order (the account and key indexes grow at their ends)."""
    if not entrants:
        return 0
    values = {"prefix": _key(drop_id, 0)[:-1], "drop_id": drop_id, "at": now, "params": _params(drop_name, "lost")}
    at = bindparam("at", type_=DateTime(timezone=True))
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(_POSTGRESQL[0]).bindparams(at), {**values, "ids": entrants})
        for statement in _POSTGRESQL[1:]:
            await session.execute(text(statement).bindparams(at), {"at": now, "drop_id": drop_id})
        return len(entrants)
    after = (await session.execute(text("SELECT coalesce(max(id), 0) FROM messages"))).scalar_one()
    await session.execute(text(_SQLITE[0]).bindparams(at), {**values, "ids": orjson.dumps(entrants).decode()})
    for statement in _SQLITE[1:]:
        await session.execute(text(statement).bindparams(at), {"at": now, "after": after})
    return len(entrants)


async def tell_ranked(session: AsyncSession, drop_id: int, drop_name: str, buy_until: datetime,
                      ranked: Sequence[tuple[int, str, int]]) -> None:
    """The winners' and backups' result messages, (user id, status, rank) each: won (buy before
    buy_until) or backup (and its place)."""
    if ranked:
        until = _when(buy_until)
        await session.execute(text("UPDATE messages SET params = :p WHERE key = :k"), [
            {"k": _key(drop_id, user_id), "p": _params(drop_name, status, until, rank)}
            for user_id, status, rank in ranked])


def _params(drop_name: str, result: str, until: str = "", rank: int = 0) -> str:
    params: dict[str, str | int] = {"drop_name": drop_name, "result": result}
    if rank:
        params.update(until=until, rank=rank)
    return orjson.dumps(params).decode()


async def write_turns(session: AsyncSession, drop_id: int, drop_name: str, turns: Sequence[tuple[int, int, int]],
                      now: datetime) -> int:
    """A backup's turn came: (user id, rank, buy_until ms) each told once (keyed by drop and account)."""
    drafts = [Draft(user_id=user_id, kind="draw_result", key=f"draw_turn:{drop_id}:{user_id}", drop_id=drop_id,
                    params={"drop_name": drop_name, "result": "turn", "rank": rank,
                            "until": _when(datetime.fromtimestamp(until / 1000, UTC))})
              for user_id, rank, until in turns]
    return await write(session, drafts, now)
