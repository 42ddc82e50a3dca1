"""F-codes for employees and operators: claim, list, gift, issue, revoke, stats."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.repository import UserRepository
from audit.repository import AuditRepository
from audit.schemas import Actor, Change
from codes.crypto import CodeCrypto
from codes.exceptions import (
    BadMonth,
    FcodeMalformed,
    FcodeNotAvailable,
    FcodeNotFound,
    FcodeRedeemed,
    GiftToSelf,
    RecipientNotFound,
)
from codes.format import MalformedCode, canonical, display, new_code
from codes.gate import Gate
from codes.models import CodeStatus, FCode
from codes.months import expiry, month_of, parse_month
from codes.repository import FcodeRepository
from codes.schemas import ClaimOut, CodeCounts, CodeStatsOut, FcodeOut, IssueOut, MonthCounts
from codes.state import CodeState, LiveCode
from codes.sync import CodeSync
from core.clock import Clock
from core.tokens import Claims

MINT_BATCH_ROWS = 1000


@dataclass(frozen=True, slots=True)
class Allotment:
    """The store's F-code rules (from the settings)."""

    zone: ZoneInfo  # months begin and end in the store's zone
    per_employee_month: int
    valid_months: int  # a month's codes stay good this many months after it
    gift_hours: int  # a gift binds a code to its recipient this long


class FcodeService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, rules: Allotment,
                 crypto: CodeCrypto, state: CodeState, sync: CodeSync, gate: Gate) -> None:
        self.sessions = sessions
        self.clock = clock
        self.rules = rules
        self.crypto = crypto
        self.state = state
        self.sync = sync
        self.gate = gate

    # -- reading ---------------------------------------------------------------------------------
    async def _render(self, rows: Sequence[FCode]) -> list[FcodeOut]:
        """The codes as their owner sees them: live state from Redis, the record where Redis lacks it."""
        at_ms = self.clock.now_ms()
        states = await self.state.read([row.code_hash for row in rows])
        live = [s if s is not None else LiveCode.from_row(row) for row, s in zip(rows, states, strict=True)]
        recipients = {r for r in (s.gifted_to(at_ms) for s in live) if r is not None}
        async with self.sessions() as session:
            emails = await FcodeRepository(session).emails(recipients)
        out = []
        for row, code in zip(rows, live, strict=True):
            gifted = code.gifted_to(at_ms)
            out.append(FcodeOut(code=display(self.crypto.decrypt(row.code_enc)), month=row.month,
                                status=code.public_status(at_ms),
                                expires_at=datetime.fromtimestamp(code.expires_ms / 1000, UTC),
                                sku=code.sku or None, order_id=code.order_id or None,
                                gifted_to=emails.get(gifted) if gifted is not None else None))
        return out

    async def list_for(self, claims: Claims) -> list[FcodeOut]:
        async with self.sessions() as session:
            rows = await FcodeRepository(session).for_owner(claims.user_id)
        return await self._render(rows)

    # -- minting ---------------------------------------------------------------------------------
    def _month(self, month: str | None) -> str:
        current = month_of(self.clock.now(), self.rules.zone)
        if month is None:
            return current
        try:
            parse_month(month)
        except ValueError as exc:
            raise BadMonth("month must be YYYY-MM with a real month") from exc
        if month > current:
            raise BadMonth("Codes of a month to come cannot be issued yet")
        return month

    def _candidates(self, month: str, owners: Sequence[int], sku: str | None) -> list[dict[str, Any]]:
        expires = expiry(month, self.rules.valid_months, self.rules.zone)
        now = self.clock.now()
        rows = []
        for owner in owners:
            for slot in range(self.rules.per_employee_month):
                code = new_code()
                rows.append({"code_hash": self.crypto.lookup_hash(code),
                             "code_enc": self.crypto.encrypt(code), "owner_id": owner, "month": month,
                             "slot": slot, "sku": sku,
                             "status": CodeStatus.available.value, "expires_at": expires, "created_at": now,
                             "version": 0})
        return rows

    async def _mint(self, month: str, owners: Sequence[int], sku: str | None, actor: Actor | None = None) -> int:
        """Mints the missing slots of these owners' allotment; idempotent, also when concurrent. An
        operator's issue (`actor`) writes its audit entry in each batch's transaction that minted any."""
        issued = 0
        # Rows per INSERT stay under the drivers' bound-parameter limits.
        step = max(1, MINT_BATCH_ROWS // max(1, self.rules.per_employee_month))
        for start in range(0, len(owners), step):
            candidates = self._candidates(month, owners[start:start + step], sku)
            async with self.sessions() as session, session.begin():
                inserted = await FcodeRepository(session).insert_missing(candidates)
                if actor is not None and inserted:
                    await AuditRepository(session).record(actor, Change(
                        "fcodes.issue", "fcodes", month, after={"month": month, "sku": sku, "issued": len(inserted)}),
                        self.clock.now())
            # Committed first: Redis never holds a code the record lacks. A crash here only leaves
            # the codes to be loaded lazily on first use.
            await self.state.load([FCode(**c) for c in candidates if c["code_hash"] in inserted])
            issued += len(inserted)
        return issued

    async def claim(self, claims: Claims) -> ClaimOut:
        month = self._month(None)
        async with self.sessions() as session:
            rows = await FcodeRepository(session).for_owner(claims.user_id, month)
        if len(rows) < self.rules.per_employee_month:
            await self._mint(month, [claims.user_id], None)
            async with self.sessions() as session:
                rows = await FcodeRepository(session).for_owner(claims.user_id, month)
        return ClaimOut(month=month, codes=await self._render(rows))

    async def issue(self, month: str | None, sku: str | None = None, owner_ids: Sequence[int] | None = None,
                    actor: Actor | None = None) -> IssueOut:
        """Mints the month's allotment for every employee short of it (or only for `owner_ids`); an
        operator's or the console's issue (`actor`) is audited."""
        chosen = self._month(month)
        if owner_ids is None:
            async with self.sessions() as session:
                owner_ids = await FcodeRepository(session).employees_short_of(
                    chosen, self.rules.per_employee_month)
        return IssueOut(month=chosen, issued=await self._mint(chosen, owner_ids, sku, actor))

    # -- changing one code -----------------------------------------------------------------------
    async def _row(self, code_text: str, owner_id: int | None) -> FCode:
        try:
            code_hash = self.crypto.lookup_hash(canonical(code_text))
        except MalformedCode as exc:
            raise FcodeMalformed(exc.problem.value) from None
        async with self.sessions() as session:
            row = await FcodeRepository(session).by_hash(code_hash)
        if row is None or (owner_id is not None and row.owner_id != owner_id):
            raise FcodeNotFound("You have no such F-code" if owner_id is not None else None)
        return row

    async def _manage(self, row: FCode, action: str, *args: str | int) -> list[bytes]:
        result = await self.state.manage(row.code_hash, action, *args)
        if result[0] == b"missing" and await self.gate.rebuild(row.code_hash):
            result = await self.state.manage(row.code_hash, action, *args)
        self.sync.schedule(row.code_hash)
        return result

    async def gift(self, claims: Claims, code_text: str, email: str) -> FcodeOut:
        row = await self._row(code_text, claims.user_id)
        async with self.sessions() as session:
            recipient = await UserRepository(session).by_email(email)
        if recipient is None or recipient.id is None:
            raise RecipientNotFound()
        if recipient.id == claims.user_id:
            raise GiftToSelf()
        until = self.clock.now() + timedelta(hours=self.rules.gift_hours)
        result = await self._manage(row, "gift", recipient.id, int(until.timestamp() * 1000))
        if result[0] != b"ok":
            raise FcodeNotAvailable("Only an available code can be given")
        return (await self._render([row]))[0]

    async def ungift(self, claims: Claims, code_text: str) -> FcodeOut:
        row = await self._row(code_text, claims.user_id)
        if (await self._manage(row, "ungift"))[0] != b"ok":
            raise FcodeNotAvailable("This code is in an order or used: it cannot be taken back")
        return (await self._render([row]))[0]

    async def revoke(self, code_text: str, actor: Actor) -> FcodeOut:
        """The code's live state is changed in Redis (its record follows through the sync): the audit
        entry is written first, the Redis step runs inside its transaction (a refusal rolls it back),
        then it commits."""
        row = await self._row(code_text, None)
        async with self.sessions.begin() as session:
            await AuditRepository(session).record(actor, Change(
                "fcode.revoke", "fcode", str(row.id), before={"status": row.status, "owner_id": row.owner_id},
                after={"status": CodeStatus.revoked.value, "owner_id": row.owner_id}), self.clock.now())
            if (await self._manage(row, "revoke"))[0] != b"ok":
                raise FcodeRedeemed("A redeemed code cannot be revoked")
        return (await self._render([row]))[0]

    # -- operators' view -------------------------------------------------------------------------
    async def stats(self) -> CodeStatsOut:
        await self.sync.drain()  # the record is behind Redis by at most the marked codes
        async with self.sessions() as session:
            groups = await FcodeRepository(session).counts(self.clock.now())
        by_month: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for month, status, past, count in groups:
            shown = CodeStatus.expired.value if status == CodeStatus.available and past else status
            by_month[month][shown] += count
            by_month[month]["issued"] += count
        months = [MonthCounts(month=m, **counts) for m, counts in sorted(by_month.items(), reverse=True)]
        totals = CodeCounts()
        for entry in months:
            for name in CodeCounts.model_fields:
                setattr(totals, name, getattr(totals, name) + getattr(entry, name))
        return CodeStatsOut(months=months, totals=totals)
