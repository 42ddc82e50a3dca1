"""Reminders and messages (issue 22). Thin: dependencies in, one service call, result out."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from app.deps import CurrentUser, OperatorUser, SettingsDep, services_of
from app.dev_mail import render_mailbox
from app.problems import problems
from app.routes.sale import DropId
from app.web.language import language_of
from core.errors import NotFound
from core.ids import parse_id
from messages.exceptions import MessageNotFound
from messages.schemas import DeadLettersOut, MessageOut, PushKeyOut, PushSubscriptionIn, ReminderIn, ReminderOut
from messages.service import MessageService

router = APIRouter(tags=["messages"])


async def get_messages(request: Request) -> MessageService:
    return services_of(request).messages


MessagesDep = Annotated[MessageService, Depends(get_messages)]


async def _delivery_id(delivery_id: str) -> int:  # async: a plain def would run in the thread pool
    parsed = parse_id(delivery_id)
    if parsed is None:
        raise MessageNotFound("No dead letter with this id")
    return parsed


DeliveryId = Annotated[int, Depends(_delivery_id)]
Language = Annotated[str, Depends(language_of)]


@router.put("/api/drops/{drop_id}/reminder", response_model=ReminderOut,
            responses=problems("unauthorized", "drop_not_found"))
async def put_reminder(drop_id: DropId, body: ReminderIn, claims: CurrentUser, messages: MessagesDep,
                       language: Language) -> ReminderOut:
    return await messages.put_reminder(claims.user_id, drop_id, body.channels, language)


@router.delete("/api/drops/{drop_id}/reminder", status_code=204,
               responses=problems("unauthorized", "drop_not_found"))
async def delete_reminder(drop_id: DropId, claims: CurrentUser, messages: MessagesDep) -> Response:
    await messages.delete_reminder(claims.user_id, drop_id)
    return Response(status_code=204)


@router.get("/api/push/key", response_model=PushKeyOut, responses=problems("push_unavailable"))
async def push_key(messages: MessagesDep) -> PushKeyOut:
    return messages.push_key()


@router.put("/api/me/push", responses=problems("unauthorized", "push_endpoint_refused", "push_unavailable"))
async def subscribe_push(body: PushSubscriptionIn, claims: CurrentUser, messages: MessagesDep,
                         language: Language) -> dict[str, bool]:
    await messages.subscribe(claims.user_id, body, language)
    return {"subscribed": True}


@router.get("/api/me/messages", response_model=list[MessageOut], responses=problems("unauthorized"))
async def my_messages(claims: CurrentUser, messages: MessagesDep, language: Language) -> list[MessageOut]:
    return await messages.messages(claims.user_id, language)


@router.get("/api/admin/messages/dead", response_model=DeadLettersOut,
            responses=problems("unauthorized", "forbidden"))
async def dead_letters(_: OperatorUser, messages: MessagesDep,
                       cursor: Annotated[str | None, Query(max_length=20)] = None) -> DeadLettersOut:
    return await messages.dead_letters(cursor)


@router.post("/api/admin/messages/dead/{delivery_id}/retry", status_code=204,
             responses=problems("unauthorized", "forbidden", "message_not_found"))
async def retry_dead_letter(delivery_id: DeliveryId, _: OperatorUser, messages: MessagesDep) -> Response:
    await messages.retry(delivery_id)
    return Response(status_code=204)


UNSUBSCRIBE_PAGE = ('<!doctype html><html lang="en"><meta charset="utf-8"><title>Unsubscribe</title>'
                    '<form method="post"><p>Stop the store\'s emails to this account?</p>'
                    '<button type="submit">Unsubscribe</button></form></html>')


@router.get("/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe_page(t: Annotated[str, Query(max_length=64)]) -> HTMLResponse:
    """A page with one button: mail scanners that follow links must not unsubscribe anyone."""
    return HTMLResponse(UNSUBSCRIBE_PAGE, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.post("/unsubscribe", response_class=HTMLResponse, include_in_schema=False,
             responses=problems("bad_unsubscribe_link"))
async def unsubscribe(t: Annotated[str, Query(max_length=64)], messages: MessagesDep) -> HTMLResponse:
    """The page's button, and RFC 8058's one-click POST from mail clients."""
    await messages.unsubscribe(t)
    return HTMLResponse('<!doctype html><html lang="en"><meta charset="utf-8"><p>Unsubscribed.</p></html>')


SERVICE_WORKER = Path(__file__).resolve().parent.parent / "web" / "static" / "js" / "sw.js"


@router.get("/sw.js", include_in_schema=False)
async def service_worker() -> FileResponse:
    """The storefront's service worker, at the root so its scope is the whole site."""
    return FileResponse(SERVICE_WORKER, media_type="text/javascript",
                        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})


@router.get("/dev/mail", response_class=HTMLResponse, include_in_schema=False)
async def dev_mail(settings: SettingsDep) -> HTMLResponse:
    """The local mailbox of the embedded defaults; 404 in production and wherever there is none."""
    if settings.env == "production" or settings.dev_mailbox is None or not settings.dev_mailbox.is_dir():
        raise NotFound()
    page = await asyncio.to_thread(render_mailbox, settings.dev_mailbox)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
