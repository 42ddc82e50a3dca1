"""The outbox survives a SIGKILL between write and send: the message is sent once after the restart."""
from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from core.net import free_port
from core.settings import Settings
from messages.models import Delivery, Message
from tests.support import buy, create_drop, eventually, make_account, pay, runtime_of
from tests.support.mail import MailServer
from tests.support.server import start_server, stop_process, wait_healthy

pytestmark = pytest.mark.slow


async def test_sigkill_between_write_and_send_sends_once_after_restart(app: FastAPI, settings: Settings,
                                                                       tmp_path: Path) -> None:
    mail = MailServer().start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"FLASHSALE_SMTP_URL": mail.url}
    # The first server writes messages but does not send them: killed with them in the outbox.
    first = start_server(settings, port, tmp_path, FLASHSALE_SEND_MESSAGES="false", **env)
    second = None
    try:
        await wait_healthy(url, first)
        operator, buyer = await make_account(app, "operator"), await make_account(app)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            drop = await create_drop(client, operator, name="Kill me")
            order = await buy(client, buyer, drop["id"])
            await pay(client, buyer, order["id"])
        runtime = runtime_of(app)

        async def written() -> bool:
            async with runtime.sessions() as session:
                found = (await session.execute(select(Delivery).join(Message, Message.id == Delivery.message_id)
                                               .where(Message.key == f"payment_received:{order['id']}",
                                                      Delivery.channel == "email"))).scalars().all()
            return len(found) == 1 and found[0].status == "pending"

        await eventually(written, timeout=15)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        assert not mail.handler.to(buyer.email)
        second = start_server(settings, port, tmp_path, **env)
        await wait_healthy(url, second)

        async def sent() -> bool:
            return bool(mail.handler.to(buyer.email))

        await eventually(sent, timeout=20)
        await asyncio.sleep(2.0)  # more sender steps: still once
        assert len(mail.handler.to(buyer.email)) == 1
        assert order["number"] in str(mail.handler.to(buyer.email)[0]["Subject"])
    finally:
        stop_process(first)
        if second is not None:
            stop_process(second)
        mail.stop()
