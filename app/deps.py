"""FastAPI dependencies as Annotated aliases.

Every dependency is `async def`, even the ones that never await: FastAPI runs a plain `def` in the
thread pool, and a hop to a thread and back per dependency (several per request, each waiting for the
GIL behind the event loop) was the long tail of the hot polls and payments under load."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.addresses.service import AddressBook
from accounts.service import AccountService
from app.wiring import Services
from audit.schemas import Actor
from audit.service import AuditLog
from codes.service import FcodeService
from core.db import session_scope
from core.errors import Forbidden
from core.net import address_block, forwarded_client, networks
from core.redis import RedisClient
from core.runtime import Runtime
from core.settings import Settings
from core.tokens import Claims
from sale.admin.controls import DropControls
from sale.admin.export import OrderExport
from sale.admin.lifecycle import DropLifecycle
from sale.admin.orders import AdminOrders
from sale.draw.operator import DrawOperator
from sale.draw.service import DrawService
from sale.drops import DropAdmin
from sale.orders import OrderService
from sale.payments.refunds import Refunds
from sale.payments.service import PaymentService
from sale.queue.service import QueueService
from sale.report.service import DropReports
from sale.share.cards import ShareCards
from sale.share.links import ShareLinks
from sale.share.page import SharePage


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def services_of(request: Request) -> Services:
    """The worker's services, built once by the lifespan (app/wiring.py)."""
    services: Services = request.app.state.services
    return services


async def get_drops(request: Request) -> DropAdmin:
    return services_of(request).drops


async def get_queue(request: Request) -> QueueService:
    return services_of(request).queue


async def get_draws(request: Request) -> DrawService:
    return services_of(request).draws


async def get_draw_operator(request: Request) -> DrawOperator:
    return services_of(request).draw_operator


async def get_orders(request: Request) -> OrderService:
    return services_of(request).orders


async def get_fcodes(request: Request) -> FcodeService:
    return services_of(request).fcodes


async def get_share(request: Request) -> ShareLinks:
    return services_of(request).share


async def get_share_page(request: Request) -> SharePage:
    return services_of(request).share_page


async def get_share_cards(request: Request) -> ShareCards:
    return services_of(request).share_cards


async def get_accounts(request: Request) -> AccountService:
    return services_of(request).accounts


async def get_addresses(request: Request) -> AddressBook:
    return services_of(request).addresses


async def get_payments(request: Request) -> PaymentService:
    return services_of(request).payments


async def get_refunds(request: Request) -> Refunds:
    return services_of(request).refunds


DropsDep = Annotated[DropAdmin, Depends(get_drops)]
OrdersDep = Annotated[OrderService, Depends(get_orders)]
QueueDep = Annotated[QueueService, Depends(get_queue)]
DrawsDep = Annotated[DrawService, Depends(get_draws)]
DrawOperatorDep = Annotated[DrawOperator, Depends(get_draw_operator)]
FcodesDep = Annotated[FcodeService, Depends(get_fcodes)]
ShareDep = Annotated[ShareLinks, Depends(get_share)]
SharePageDep = Annotated[SharePage, Depends(get_share_page)]
ShareCardsDep = Annotated[ShareCards, Depends(get_share_cards)]
AccountsDep = Annotated[AccountService, Depends(get_accounts)]
AddressesDep = Annotated[AddressBook, Depends(get_addresses)]
PaymentsDep = Annotated[PaymentService, Depends(get_payments)]
RefundsDep = Annotated[Refunds, Depends(get_refunds)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def get_redis(runtime: RuntimeDep) -> RedisClient:
    return runtime.redis


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async for session in session_scope(runtime.sessions):
        yield session


async def current_claims(request: Request, runtime: RuntimeDep) -> Claims:
    """A valid token whose account version is current (one Redis call; the signature check is cached)."""
    return await runtime.versions.check(runtime.tokens.from_header(request.headers.get("authorization")))


def client_address(request: Request) -> str:
    """The one place that decides who the client is (core/net.py forwarded_client: X-Forwarded-For
    only from a trusted proxy, its rightmost untrusted entry). uvicorn's own proxy handling is off
    (app/server.py), so the peer seen here is the socket's."""
    peer = request.client.host if request.client else "unknown"
    proxies = networks(request.app.state.runtime.settings.trusted_proxies)
    return forwarded_client(peer, request.headers.get("x-forwarded-for"), proxies)


def client_key(request: Request) -> str:
    """What every per-address limit counts: the client's address block (an IPv6 client's /64)."""
    return address_block(client_address(request))


async def client_key_of(request: Request) -> str:
    return client_key(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[RedisClient, Depends(get_redis)]
# scope="function": the transaction commits before the response is sent, so a client never reads
# ahead of its own write and a failed commit is an error response, not a lost 2xx.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
CurrentUser = Annotated[Claims, Depends(current_claims)]
# The client's address block, as every per-address limit keys it.
ClientAddress = Annotated[str, Depends(client_key_of)]


def _require(*roles: str) -> object:
    async def check(claims: CurrentUser) -> Claims:
        if claims.role not in roles:
            raise Forbidden(f"This needs the {' or '.join(roles)} role")
        return claims

    return Depends(check)


OperatorUser = Annotated[Claims, _require("operator")]
EmployeeUser = Annotated[Claims, _require("employee")]


async def operator_actor(request: Request, claims: OperatorUser) -> Actor:
    """An operator acting, as the audit log names them: account, email now, client address."""
    return await services_of(request).accounts.actor(claims, client_address(request))


# Every operator call that changes something takes this (the role check included): its audit entry's "who".
OperatorActor = Annotated[Actor, Depends(operator_actor)]


async def get_controls(request: Request) -> DropControls:
    return services_of(request).controls


async def get_lifecycle(request: Request) -> DropLifecycle:
    return services_of(request).lifecycle


async def get_admin_orders(request: Request) -> AdminOrders:
    return services_of(request).admin_orders


async def get_export(request: Request) -> OrderExport:
    return services_of(request).export


async def get_reports(request: Request) -> DropReports:
    return services_of(request).reports


async def get_audit(request: Request) -> AuditLog:
    return services_of(request).audit


ControlsDep = Annotated[DropControls, Depends(get_controls)]
LifecycleDep = Annotated[DropLifecycle, Depends(get_lifecycle)]
AdminOrdersDep = Annotated[AdminOrders, Depends(get_admin_orders)]
ExportDep = Annotated[OrderExport, Depends(get_export)]
ReportsDep = Annotated[DropReports, Depends(get_reports)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
