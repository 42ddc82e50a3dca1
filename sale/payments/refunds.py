"""Refunds: of a late charge (money that arrived after the unit went back), of a second charge, of a paid
order (an operator's, one or a whole drop in the background). Each is keyed at the provider so a retry
refunds once; the order records it through refund.lua / pay_settle.lua and the order stream."""
from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit.repository import AuditRepository
from audit.schemas import Actor, Change
from core.clock import Clock
from core.keys import Keys
from core.metrics import count_payment
from core.redis import RedisClient
from sale.exceptions import DropNotFound, NotRefundable, OrderNotFound, ProviderUnavailable, refusal
from sale.inventory import Inventory
from sale.live_order import LiveOrder
from sale.loader import DropLoader
from sale.lookup import drop_of
from sale.payment import PaymentProvider
from sale.payments.models import RefundJob
from sale.payments.provider import AsyncProvider, ProviderError
from sale.payments.repository import PaymentRepository

log = logging.getLogger("flashsale.refunds")
# A late charge's refund due this long ago was not made by the request or notice that found it (which
# refunds at once): the sweeper does it.
REFUND_RETRY_AFTER_MS = 30_000
JOB_LEASE_MS = 30_000  # a bulk refund's worker holds the drop's job this long between orders


class Refunds:
    def __init__(self, providers: Mapping[str, AsyncProvider], test_provider: PaymentProvider, inventory: Inventory,
                 loader: DropLoader, sessions: async_sessionmaker[AsyncSession], redis: RedisClient, keys: Keys,
                 clock: Clock) -> None:
        self.providers = dict(providers)
        self.test_provider = test_provider
        self.inventory = inventory
        self.loader = loader
        self.sessions = sessions
        self.redis = redis
        self.keys = keys
        self.clock = clock

    async def _refund_at_provider(self, order: LiveOrder, intent: str, key: str) -> str:
        try:
            reference = await self._refund_with(order, intent, key)
        except Exception:
            count_payment(order.pay_provider or "test", "refund_failed")
            raise
        count_payment(order.pay_provider or "test", "refunded")
        return reference

    async def _refund_with(self, order: LiveOrder, intent: str, key: str) -> str:
        if not order.pay_provider:
            return await self.test_provider.refund(order_id=order.id, charge_reference=intent or order.payment_ref,
                                                   amount_cents=order.amount_cents, currency=order.currency)
        provider = self.providers.get(order.pay_provider)
        if provider is None:
            raise ProviderUnavailable(f"The provider {order.pay_provider!r} is not configured")
        try:
            return await provider.refund(intent, order.amount_cents, order.currency, key)
        except ProviderError as exc:
            log.warning("order %s: refund at %s failed: %s", order.id, provider.name, exc)
            raise ProviderUnavailable() from None

    # ---- charges that must not stand ----
    async def late_charge(self, order: LiveOrder) -> bool:
        """Money for an order whose units went back: refunded now; the sweeper retries a failure."""
        log.warning("order %s was charged after its units went back: refunding", order.id)
        try:
            reference = await self._refund_at_provider(order, order.pay_intent or order.payment_ref,
                                                       f"refund-{order.id}")
        except Exception:
            log.exception("refund of order %s failed; the sweeper retries it", order.id)
            return False
        await self.inventory.record_refund(order.drop_id, order.id, reference)
        return True

    async def second_charge(self, order: LiveOrder, intent: str) -> None:
        """A payment that succeeded on an intent the order no longer uses (it was paid another way)."""
        log.warning("order %s: a second payment (%s) succeeded: refunding it", order.id, intent)
        try:
            await self._refund_at_provider(order, intent, f"refund-{intent}")
        except Exception:
            log.exception("refund of order %s's second payment failed; reconcile lists it", order.id)

    async def retry_late(self, drop_id: int) -> int:
        due = await self.inventory.refunds_due(drop_id, self.clock.now_ms() - REFUND_RETRY_AFTER_MS)
        return sum([await self.late_charge(order) for order in due if order.refund == "pending"])

    async def seen_at_provider(self, order_id: str, intent: str) -> str:
        """The provider says the payment was refunded (its dashboard, or our own refund's notice)."""
        try:
            order = await self._live(drop_of(order_id), order_id)
        except (OrderNotFound, DropNotFound):
            return "unknown_order"
        if order.status != "paid" or order.pay_intent != intent:
            return "unchanged"
        state, _ = await self.inventory.refund_paid(order.drop_id, order_id, f"provider:{intent}")
        return state

    # ---- an operator's refunds ----
    async def _live(self, drop_id: int, order_id: str) -> LiveOrder:
        async def missing(found: LiveOrder | None) -> bool:
            return found is None

        order = await self.loader.retry_missing(drop_id, lambda: self.inventory.order(drop_id, order_id), missing)
        if order is None:
            raise OrderNotFound()
        return order

    async def refund_order(self, order_id: str, actor: Actor | None = None) -> LiveOrder:
        """A paid order refunded at its provider, then recorded; refunding it again answers the same.
        An operator's refund (`actor`) is audited once it took effect (the provider refunded, the order
        records it): the change itself is at the provider and in Redis, the entry follows in SQL."""
        refunded, now = await self._refund_order(order_id)
        if actor is not None and now:
            async with self.sessions() as session, session.begin():
                await AuditRepository(session).record(
                    actor, Change("order.refund", "order", order_id, {"status": "paid"},
                                  {"status": refunded.status, "amount_cents": refunded.amount_cents,
                                   "currency": refunded.currency, "provider": refunded.pay_provider or "test"}),
                    self.clock.now())
        return refunded

    async def _refund_order(self, order_id: str) -> tuple[LiveOrder, bool]:
        """The order, and whether this call refunded it."""
        drop_id = drop_of(order_id)
        try:
            order = await self._live(drop_id, order_id)
        except DropNotFound:
            raise OrderNotFound() from None
        if order.status == "refunded":
            return order, False
        if order.status != "paid":
            raise NotRefundable()
        reference = await self._refund_at_provider(order, order.pay_intent or order.payment_ref,
                                                   f"refund-{order.id}")
        state, refunded = await self.inventory.refund_paid(drop_id, order_id, reference)
        if state not in ("refunded", "was_refunded") or refunded is None:
            raise refusal(state) or NotRefundable()
        return refunded, state == "refunded"

    async def request_bulk(self, drop_id: int, actor: Actor) -> int:
        """A background refund of every paid order of the drop: the job's row and its audit entry in one
        transaction, then the sweeper's work."""
        await self.loader.load_by_id(drop_id)  # the drop's orders in Redis (rebuilt from SQL if lost)
        orders = await self.inventory.all_orders(drop_id)
        paid = sum(1 for order in orders.values() if order.status == "paid")
        async with self.sessions() as session, session.begin():
            assert actor.user_id is not None, "a bulk refund is an operator's (an account), never the console's"
            job = await PaymentRepository(session).add_job(RefundJob(drop_id=drop_id, requested_by=actor.user_id,
                                                                     orders=paid))
            await AuditRepository(session).record(actor, Change("drop.refund_paid", "drop", str(drop_id), None,
                                                                {"refund_job": job.id, "orders": paid}),
                                                  self.clock.now())
        return paid

    async def work_jobs(self, batch: int = 50) -> int:
        """Unfinished bulk refunds, a batch of orders each, by the one process holding the drop's job
        lease; resumed by any process after a crash (orders refunded before are skipped)."""
        async with self.sessions() as session:
            jobs = await PaymentRepository(session).open_jobs()
        done = 0
        for job in jobs:
            assert job.id is not None
            lease = self.keys.drop(job.drop_id).refund_job
            if not await self.redis.set(lease, str(job.id), nx=True, px=JOB_LEASE_MS):
                continue
            try:
                done += await self._work(job, batch)
            finally:
                await self.redis.delete(lease)
        return done

    async def _work(self, job: RefundJob, batch: int) -> int:
        assert job.id is not None
        await self.loader.load_by_id(job.drop_id)
        orders = await self.inventory.all_orders(job.drop_id)
        paid = [order for order in orders.values() if order.status == "paid"][:batch]
        refunded = failed = 0
        for order in paid:
            try:
                await self.refund_order(order.id)
                refunded += 1
            except Exception:
                log.exception("bulk refund of drop %s: order %s failed (retried)", job.drop_id, order.id)
                failed += 1
        finished = len(paid) < batch and failed == 0
        async with self.sessions() as session, session.begin():
            await PaymentRepository(session).finish_job(job.id, job.refunded + refunded, failed, finished)
        return refunded
