"""The composition root: every service built once per worker process and handed to the ones that
need it through their constructors. Routes read them, typed, from `Services` (see app/deps.py)."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from py_vapid import Vapid02

from accounts.addresses.copy import AddressCopy
from accounts.addresses.service import AddressBook
from accounts.service import AccountService
from audit.schemas import Actor
from audit.service import AuditLog
from codes.crypto import CodeCrypto
from codes.gate import Gate
from codes.service import Allotment, FcodeService
from codes.state import CodeState
from codes.state import register_scripts as register_code_scripts
from codes.sync import CodeSync
from core.loops import cancel_all
from core.ratelimit import FailureLimiter
from core.redis import LuaScript
from core.runtime import Runtime
from core.settings import Settings
from messages.channels import EmailTransport, UnsubscribeLinks
from messages.mail import SmtpMailer, SmtpTarget
from messages.push import PushTransport, load_vapid, public_key
from messages.sender import OutboxSender, Transport
from messages.service import MessageService, ReminderCounts
from sale.address_cap import AddressCap, AddressCaps
from sale.admin.controls import DropControls
from sale.admin.export import OrderExport
from sale.admin.lifecycle import DropLifecycle
from sale.admin.orders import AdminOrders
from sale.admin.state import DropState
from sale.admin.state import register_scripts as register_control_scripts
from sale.catalog import DropCatalog
from sale.draw.gate import DrawGate
from sale.draw.gate import register_scripts as register_draw_scripts
from sale.draw.operator import DrawOperator
from sale.draw.recorder import EntryRecords
from sale.draw.runner import DrawRunner
from sale.draw.service import DrawService
from sale.drops import DropAdmin
from sale.failover import FailoverRebuild
from sale.images.service import DropImageService
from sale.images.store import MediaStore, open_media_store
from sale.inventory import Inventory, PurchaseLimits
from sale.inventory import register_scripts as register_sale_scripts
from sale.loader import DropLoader
from sale.lookup import OrderLookup
from sale.notices import OperatorNotices
from sale.orders import OrderService
from sale.payment import make_provider
from sale.payments.alipay_provider import AlipayProvider
from sale.payments.provider import AsyncProvider
from sale.payments.records import NoticeRecords
from sale.payments.refunds import Refunds
from sale.payments.service import PaymentService
from sale.purchase import AddressTags, PurchaseService
from sale.queue.challenge import Challenges, Difficulty
from sale.queue.gate import QueueGate, QueueLimits
from sale.queue.gate import register_scripts as register_queue_scripts
from sale.queue.service import QueueService
from sale.reminders import DropOpenings, PaidMessages
from sale.report.service import DropReports
from sale.reserved import ReservationWindow
from sale.rush import SaleRush
from sale.share.card import CardStore
from sale.share.cards import ShareCards
from sale.share.credit import ReferralCredit
from sale.share.facts import ShareFacts, ShareSite
from sale.share.links import ShareLinks
from sale.share.page import SharePage
from sale.share.referral import ReferralSigner
from sale.share.views import ShareViews
from sale.sink import OrderSink, StreamRecorders
from sale.sweeper import Sweeper, Upkept
from sale.waitlist.gate import WaitlistGate
from sale.waitlist.gate import register_scripts as register_waitlist_scripts
from sale.waitlist.recorder import HoldMessages
from sale.waitlist.service import WaitlistService

log = logging.getLogger("flashsale.wiring")


@dataclass(frozen=True, slots=True)
class Services:
    runtime: Runtime
    accounts: AccountService
    addresses: AddressBook
    images: DropImageService
    inventory: Inventory
    catalog: DropCatalog
    loader: DropLoader
    queue: QueueService
    drops: DropAdmin
    purchases: PurchaseService
    orders: OrderService
    payments: PaymentService
    refunds: Refunds
    lookup: OrderLookup
    gate: Gate
    fcodes: FcodeService
    code_sync: CodeSync
    share: ShareLinks
    share_page: SharePage
    share_cards: ShareCards
    controls: DropControls
    lifecycle: DropLifecycle
    admin_orders: AdminOrders
    export: OrderExport
    audit: AuditLog
    reports: DropReports
    messages: MessageService
    reminder_counts: ReminderCounts
    transports: dict[str, Transport]
    draws: DrawService
    draw_runner: DrawRunner
    draw_operator: DrawOperator
    waitlist: WaitlistService


class BulkRefundOnCancel:
    """sale.admin.seams.RefundRequester: cancelling a drop with `refund_paid` starts the payments work's
    bulk refund of its paid orders (the job `POST /api/admin/drops/{id}/refunds` starts)."""

    def __init__(self, refunds: Refunds) -> None:
        self.refunds = refunds

    async def refund_paid_orders(self, drop_id: int, actor: Actor) -> None:
        await self.refunds.request_bulk(drop_id, actor)


async def build_services(runtime: Runtime) -> Services:
    """Registers every Lua script once (SCRIPT LOAD), then builds the services bottom up."""
    sale_scripts = register_sale_scripts(runtime.scripts)
    code_scripts = register_code_scripts(runtime.scripts)
    register_queue_scripts(runtime.scripts)
    register_draw_scripts(runtime.scripts)
    register_waitlist_scripts(runtime.scripts)
    count_view = runtime.scripts.add("sale.share", "share_view.lua")
    control_scripts = register_control_scripts(runtime.scripts)
    await runtime.scripts.load_all(runtime.redis)
    settings = runtime.settings

    inventory = Inventory(runtime.redis, runtime.keys, sale_scripts, runtime.clock,
                          PurchaseLimits(settings.purchase_rate_per_second),
                          payment_lease_ms=int(settings.payment_lease_seconds * 1000),
                          wait_replicas=settings.redis_wait_replicas, wait_timeout_ms=settings.redis_wait_timeout_ms)
    catalog = DropCatalog(runtime.redis, runtime.keys, runtime.sessions, runtime.clock, sale_scripts.catalog_sync)
    loader = DropLoader(runtime.sessions, runtime.redis, runtime.keys, inventory, catalog)
    lookup = OrderLookup(inventory, runtime.sessions)
    reserved = ReservationWindow(runtime.redis, runtime.keys, runtime.sessions, catalog, runtime.clock)
    queue = make_queue(runtime, loader, reserved)
    media = await open_media_store(settings, runtime.sessions)  # closed by app/bootstrap.py
    images = DropImageService(runtime.sessions, media)
    reminder_counts = ReminderCounts(runtime.redis, runtime.keys)
    drops = DropAdmin(runtime.sessions, runtime.clock, settings, inventory, loader, catalog, queue, images,
                      reminder_counts)

    crypto = CodeCrypto(settings.app_secret)
    code_state = CodeState(runtime.redis, runtime.keys, code_scripts, runtime.clock)
    code_sync = CodeSync(runtime.sessions, code_state)
    guesses = FailureLimiter(runtime.redis, limit=settings.fcode_max_failures,
                             window_seconds=settings.fcode_failure_window_seconds)
    # The sale's order lookup, narrowly: codes/ sits below sale/.
    gate = Gate(runtime.sessions, runtime.keys, guesses, crypto, code_state, code_sync, lookup)
    allotment = Allotment(zone=settings.zone, per_employee_month=settings.fcodes_per_employee_month,
                          valid_months=settings.fcode_valid_months, gift_hours=settings.fcode_gift_hours)
    fcodes = FcodeService(runtime.sessions, runtime.clock, allotment, crypto, code_state, code_sync, gate)

    referrals = ReferralSigner(settings.app_secret)
    share, share_page, share_cards = make_share(runtime, drops, lookup, referrals, count_view, media)
    address_caps = AddressCaps(AddressCap(settings.max_unpaid_per_address, settings.max_unpaid_per_address_share),
                               catalog)
    failover = FailoverRebuild(runtime.sessions, runtime.redis, runtime.keys, loader, sale_scripts.unlock,
                               settings.failover_settle_seconds)
    address_tags = AddressTags(settings.app_secret)
    purchases = PurchaseService(inventory, loader, gate, referrals,
                                address_tags, address_caps, runtime.versions, failover, reserved)
    draw_gate = DrawGate(runtime.redis, runtime.keys, runtime.scripts, runtime.clock)
    draws = DrawService(draw_gate, loader, catalog, runtime.sessions, runtime.clock, address_tags,
                        settings.draw_entries_per_address, settings.base_url)
    draw_runner = DrawRunner(runtime.sessions, draw_gate, catalog, loader, runtime.clock)
    test_provider = make_provider(settings.payment_provider)
    providers = payment_providers(settings)
    refunds = Refunds(providers, test_provider, inventory, loader, runtime.sessions, runtime.redis, runtime.keys,
                      runtime.clock)
    addresses = AddressBook(runtime.sessions, AddressCopy(runtime.redis, runtime.keys))
    payments = PaymentService(providers, inventory, loader, catalog, runtime.sessions, share, gate, refunds,
                              addresses)
    orders = OrderService(inventory, lookup, loader, gate, share, test_provider, runtime.versions, failover,
                          payments)
    try:
        await code_sync.drain()  # F-code changes a stopped worker had not written to SQL yet
    except Exception:
        log.exception("F-code record catch-up at start-up failed; the stats call retries it")
    try:
        await addresses.backfill()  # a new or flushed Redis: the addresses payments read, copied from SQL
    except Exception:
        log.exception("Copying the address books into Redis at start-up failed; payments read SQL for them")
    accounts = AccountService(settings, runtime.sessions, runtime.redis, runtime.keys, runtime.tokens,
                              runtime.versions, runtime.passwords)
    state = DropState(runtime.redis, runtime.keys, runtime.clock, control_scripts, failover)
    waitlist = WaitlistService(WaitlistGate(runtime.redis, runtime.keys, runtime.scripts, runtime.clock), loader)
    controls = DropControls(runtime.sessions, runtime.clock, drops, state,
                            OperatorNotices(queue, waitlist, runtime.clock))
    lifecycle = DropLifecycle(runtime.sessions, runtime.clock, settings, drops, state, gate, payments,
                              BulkRefundOnCancel(refunds))
    unsubscribe = UnsubscribeLinks(settings.app_secret, settings.base_url)
    vapid = load_vapid(settings.vapid_private_key, settings.var_dir if settings.env == "development" else None)
    messages = MessageService(runtime.sessions, runtime.clock, reminder_counts, reserved, unsubscribe,
                              settings.base_url, public_key(vapid) if vapid else None, settings.env == "development")
    return Services(runtime=runtime, accounts=accounts, addresses=addresses, images=images, inventory=inventory,
                    catalog=catalog, loader=loader,
                    queue=queue, drops=drops, purchases=purchases, orders=orders, payments=payments,
                    refunds=refunds, lookup=lookup, gate=gate, fcodes=fcodes,
                    code_sync=code_sync, share=share, share_page=share_page,
                    share_cards=share_cards, controls=controls, lifecycle=lifecycle,
                    admin_orders=AdminOrders(runtime.sessions), export=OrderExport(runtime.sessions, drops),
                    audit=AuditLog(runtime.sessions), reports=DropReports(runtime.sessions, drops),
                    messages=messages, reminder_counts=reminder_counts,
                    transports=message_transports(runtime, unsubscribe, vapid), draws=draws, draw_runner=draw_runner,
                    draw_operator=DrawOperator(runtime.sessions, draw_gate, catalog, runtime.clock),
                    waitlist=waitlist)


def message_transports(runtime: Runtime, unsubscribe: UnsubscribeLinks, vapid: Vapid02 | None) -> dict[str, Transport]:
    """The channels this service can send by: email when an SMTP server is configured (or started
    locally on the embedded defaults), web push with a VAPID key."""
    settings = runtime.settings
    transports: dict[str, Transport] = {}
    if settings.smtp_url:
        domain = settings.mail_from.rpartition("@")[2] or "flashsale.invalid"
        mailer = SmtpMailer(SmtpTarget.parse(settings.smtp_url), settings.mail_from, settings.mail_from_name, domain)
        transports["email"] = EmailTransport(mailer, settings.base_url, unsubscribe, runtime.clock)
    if vapid is not None:
        transports["push"] = PushTransport(runtime.sessions, vapid, settings.vapid_subject, settings.base_url,
                                           settings.env == "development")
    return transports


def payment_providers(settings: Settings) -> dict[str, AsyncProvider]:
    """The asynchronous providers with settings; the others are off and not offered."""
    providers: dict[str, AsyncProvider] = {}
    if settings.stripe_secret_key:
        # Imported only when configured: its HTTP client brings aiohttp (a tenth of a process's start-up).
        from sale.payments.stripe_provider import StripeProvider

        providers["stripe"] = StripeProvider(settings.stripe_secret_key, settings.stripe_webhook_secret,
                                             settings.stripe_api_base)
    if settings.alipay_app_id:
        private_key, public_key = settings.alipay_keys
        providers["alipay"] = AlipayProvider(settings.alipay_app_id, private_key, public_key, settings.alipay_gateway,
                                             notify_url=f"{settings.base_url}/api/payments/alipay/notify",
                                             return_url=f"{settings.base_url}/orders")
    return providers


def make_share(runtime: Runtime, drops: DropAdmin, lookup: OrderLookup, signer: ReferralSigner,
               count_view: LuaScript, media: MediaStore) -> tuple[ShareLinks, SharePage, ShareCards]:
    """Share links by job: facts (row or Redis), views, referral credit, cards; the buyer's API and the page."""
    settings = runtime.settings
    facts = ShareFacts(runtime.sessions, runtime.redis, runtime.keys, drops, runtime.clock)
    site = ShareSite(settings.base_url, settings.store_name, settings.zone)
    cards = ShareCards(site, CardStore(settings.var_dir / "cards", media), facts)
    views = ShareViews(runtime.redis, runtime.keys, count_view, signer)
    credit = ReferralCredit(signer)
    links = ShareLinks(site, lookup, facts, views, credit, cards, runtime.clock)
    return links, SharePage(facts, views, credit, cards, drops, runtime.sessions, runtime.clock), cards


def make_queue(runtime: Runtime, loader: DropLoader, reserved: ReservationWindow) -> QueueService:
    """The waiting room: its limits and challenge difficulty from the settings."""
    s = runtime.settings
    limits = QueueLimits(admission_ms=s.queue_admission_seconds * 1000, stale_ms=s.queue_stale_seconds * 1000,
                         joins_per_address=s.queue_joins_per_address,
                         address_window_seconds=s.queue_address_window_seconds,
                         attempts_per_account_minute=s.queue_attempts_per_account_minute,
                         solution_ttl_seconds=s.queue_challenge_ttl_seconds + 60)
    challenges = Challenges(s.app_secret, s.queue_challenge_ttl_seconds,
                            Difficulty(s.queue_challenge_min_number, s.queue_challenge_number_per_join,
                                       s.queue_challenge_max_number))
    gate = QueueGate(runtime.redis, runtime.keys, runtime.scripts, limits, runtime.clock)
    return QueueService(gate, challenges, loader, reserved)


@dataclass
class Background:
    """The order sink (stream to SQL) and the sweeper (expiry, Redis rebuilt from SQL) of one worker."""

    sink: OrderSink
    sink_task: asyncio.Task[None]
    sweeper_task: asyncio.Task[None]
    message_tasks: list[asyncio.Task[None]]

    async def stop(self, drain_seconds: float) -> None:
        """Graceful stop: the sweeper and the messages at once (a send cut short is sent again: its
        lease ends); the sink after its batch and what is left in the streams."""
        await cancel_all([self.sweeper_task, *self.message_tasks])
        await self.sink.stop(self.sink_task, drain_seconds)
        await cancel_all([self.sink_task])


def background_loops(services: Services) -> Background:
    runtime = services.runtime
    sweeper = Sweeper(runtime.redis, runtime.keys, runtime.sessions, runtime.clock,
                      runtime.settings.sweep_interval_seconds,
                      Upkept(services.loader, services.orders, services.purchases, services.code_sync, services.catalog,
                             services.queue, services.refunds, services.waitlist))
    # The sink writes each paid order's share link and F-code redemption with the order, off the request.
    sink = OrderSink(runtime.redis, runtime.keys, runtime.sessions, runtime.database_writes,
                     runtime.settings.sink_claim_idle_ms,
                     recorders=[services.share, services.gate, PaidMessages(runtime.clock)],
                     events=StreamRecorders(NoticeRecords(), EntryRecords(), HoldMessages(runtime.clock)))
    message_tasks = message_loops(services) if runtime.settings.message_loops else []
    return Background(sink, asyncio.create_task(sink.run(), name="order-sink"),
                      asyncio.create_task(sweeper.run(), name="sweeper"), message_tasks)


def message_loops(services: Services) -> list[asyncio.Task[None]]:
    """Off the buyers' path: drop openings and admissions into the outbox, draws made at their time
    (results and their messages in one transaction), and the outbox's sender (when sending is on)."""
    runtime = services.runtime
    openings = DropOpenings(runtime.sessions, services.catalog, runtime.clock, services.reminder_counts,
                            services.queue)
    tasks = [asyncio.create_task(openings.run(), name="drop-openings"),
             asyncio.create_task(services.draw_runner.run(), name="draws")]
    if runtime.settings.send_messages:
        rush = SaleRush(services.catalog, services.inventory, runtime.clock, runtime.settings.rush_seconds)
        sender = OutboxSender(runtime.sessions, runtime.clock, services.transports, rush=rush.on)
        tasks.append(asyncio.create_task(sender.run(), name="outbox-sender"))
    return tasks
