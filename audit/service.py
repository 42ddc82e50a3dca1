"""Reading the audit log (writing is done by each acting service, through AuditRepository, inside its
own transaction)."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit.models import AuditEntry
from audit.repository import AuditRepository
from audit.schemas import AuditOut, AuditPage
from core.clock import as_utc
from core.cursors import cursor_int, decode_cursor, encode_cursor

PAGE_SIZE = 50
CURSOR_KIND = "audit"


def audit_out(entry: AuditEntry) -> AuditOut:
    assert entry.id is not None
    return AuditOut(id=entry.id, at=as_utc(entry.at), actor_id=entry.actor_id, actor_email=entry.actor_email,
                    client=entry.client, action=entry.action, target_type=entry.target_type,
                    target_id=entry.target_id, before=entry.before, after=entry.after)


class AuditLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def page(self, cursor: str | None, limit: int = PAGE_SIZE) -> AuditPage:
        """Entries newest first; `next_cursor` names the page after this one (None at the end)."""
        before = cursor_int(decode_cursor(cursor, CURSOR_KIND, 1)[0]) if cursor else None
        async with self.sessions() as session:
            rows = await AuditRepository(session).newest(before, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1].id if rows and more else None
        return AuditPage(items=[audit_out(r) for r in rows],
                         next_cursor=encode_cursor(CURSOR_KIND, last) if last is not None else None)
