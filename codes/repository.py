from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from accounts.models import Role, User
from codes.models import FCode


class FcodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_hash(self, code_hash: str) -> FCode | None:
        result = await self.session.execute(select(FCode).where(FCode.code_hash == code_hash))
        return result.scalars().first()

    async def given_to(self, user_id: int) -> list[FCode]:
        """Codes another employee gave this account (the gift's end is checked with the live state)."""
        result = await self.session.execute(select(FCode).where(FCode.gifted_to_id == user_id)
                                            .order_by(col(FCode.month).desc(), col(FCode.id)))
        return list(result.scalars().all())

    async def for_owner(self, owner_id: int, month: str | None = None) -> list[FCode]:
        query = select(FCode).where(FCode.owner_id == owner_id)
        if month is not None:
            query = query.where(FCode.month == month)
        result = await self.session.execute(query.order_by(col(FCode.month).desc(), col(FCode.slot)))
        return list(result.scalars().all())

    async def insert_missing(self, rows: list[dict[str, Any]]) -> set[str]:
        """Inserts the rows whose (owner, month, slot) is still free; returns the inserted hashes.

        The unique constraint makes this safe under concurrent claims: a loser inserts nothing.
        """
        if not rows:
            return set()
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(FCode).values(rows).on_conflict_do_nothing().returning(col(FCode.code_hash))
        result = await self.session.execute(stmt)
        return {str(h) for h in result.scalars().all()}

    async def employees_short_of(self, month: str, allotment: int) -> list[int]:
        """Employees holding fewer than `allotment` codes of the month."""
        held = (select(FCode.owner_id, sa.func.count().label("n")).where(FCode.month == month)
                .group_by(col(FCode.owner_id)).subquery())
        result = await self.session.execute(
            select(User.id).outerjoin(held, held.c.owner_id == User.id)
            .where(User.role == Role.employee.value, sa.func.coalesce(held.c.n, 0) < allotment)
            .order_by(col(User.id)))
        return [int(uid) for uid in result.scalars().all()]

    async def counts(self, now: datetime) -> list[tuple[str, str, bool, int]]:
        """(month, stored status, past expiry, count) for every group."""
        past = sa.case((col(FCode.expires_at) <= now, 1), else_=0).label("past")
        result = await self.session.execute(
            select(FCode.month, FCode.status, past, sa.func.count())
            .group_by(col(FCode.month), col(FCode.status), past).order_by(col(FCode.month).desc()))
        return [(str(m), str(s), bool(p), int(n)) for m, s, p, n in result.all()]

    async def emails(self, user_ids: set[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        result = await self.session.execute(select(User.id, User.email).where(col(User.id).in_(user_ids)))
        return {int(uid): str(email) for uid, email in result.all()}
