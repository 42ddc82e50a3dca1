from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from audit.models import AuditEntry
from audit.schemas import Actor, Change


class AuditRepository:
    """Adds entries and reads them newest first; there is no update or delete here, by design."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, actor: Actor, change: Change, at: datetime) -> None:
        """Adds the entry to the caller's transaction (committed, or rolled back, with the change)."""
        self.session.add(AuditEntry(
            at=at, actor_id=actor.user_id, actor_email=actor.email[:320], client=actor.address[:64],
            action=change.action, target_type=change.target_type, target_id=change.target_id[:64],
            before=change.before, after=change.after))
        await self.session.flush()

    async def newest(self, before_id: int | None, limit: int) -> list[AuditEntry]:
        query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
        if before_id is not None:
            query = query.where(col(AuditEntry.id) < before_id)
        result = await self.session.execute(query)
        return list(result.scalars().all())
