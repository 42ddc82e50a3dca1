"""A local SMTP server (aiosmtpd) for tests: every message it accepts, parsed, in memory; and a second
worker's message loops stepped by hand (another_worker_steps)."""
from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from fastapi import FastAPI

from core.net import free_port
from messages.sender import OutboxSender
from sale.reminders import DropOpenings
from tests.support import services_of


class Collecting:
    def __init__(self) -> None:
        self.received: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.received.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received if address in str(m["To"])]


class MailServer:
    def __init__(self) -> None:
        self.handler = Collecting()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> MailServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()



async def another_worker_steps(app: FastAPI, times: int = 3) -> None:
    """The scheduler and the sender of a second worker (the same Redis and database, its own state) step
    `times` times each, beside the app's own loops: what was told once must stay told once. In place of
    waiting a second for the app's loops to look again."""
    services = services_of(app)
    runtime = services.runtime
    openings = DropOpenings(runtime.sessions, services.catalog, runtime.clock, services.reminder_counts,
                            services.queue)
    sender = OutboxSender(runtime.sessions, runtime.clock, services.transports)
    for _ in range(times):
        await openings.step()
        await sender.drain()
