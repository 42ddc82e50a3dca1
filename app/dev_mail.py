"""The local mailbox a newcomer's store sends to: on the embedded defaults `flashsale serve` starts an
SMTP server (aiosmtpd) beside the embedded Valkey, keeping what it receives in a Maildir under var/,
and hands its address to the workers; `/dev/mail` shows it (never in production)."""
from __future__ import annotations

import contextlib
import html
import itertools
import mailbox
import os
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from core.net import free_port
from core.settings import Settings, private_dir

DEFAULT_PORT = 8025
SHOWN = 50


class RawMaildir:
    """An aiosmtpd handler that files each message's bytes in a Maildir as they came: aiosmtpd's own
    Mailbox handler parses and re-renders every message, which held a local mailbox near 200 a second."""

    def __init__(self, path: Path) -> None:
        self.path = path
        for part in ("tmp", "new", "cur"):  # a Maildir's own folders
            private_dir(path / part)
        self._count = itertools.count()

    @classmethod
    def from_cli(cls, parser: object, *args: str) -> RawMaildir:  # `python -m aiosmtpd -c ...RawMaildir DIR`
        return cls(Path(args[0]))

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        name = f"{time.time_ns()}.{os.getpid()}_{next(self._count)}.local"
        temporary = self.path / "tmp" / name
        temporary.write_bytes(envelope.original_content or b"")
        os.replace(temporary, self.path / "new" / name)
        return "250 OK"


def start_dev_mail(settings: Settings, say: Callable[[str], object]) -> Controller | None:
    if not (settings.on_embedded_defaults and settings.dev_mail) or settings.smtp_url:
        return None
    maildir = private_dir(settings.var_dir / "mail").resolve()
    controller = None
    for port in (DEFAULT_PORT, free_port()):  # the usual port when free, else any
        candidate = Controller(RawMaildir(maildir), hostname="127.0.0.1", port=port)
        try:
            candidate.start()
        except (OSError, RuntimeError):
            continue
        controller = candidate
        break
    if controller is None:
        say("local mailbox: could not start an SMTP server; email waits in the outbox")
        return None
    os.environ["FLASHSALE_SMTP_URL"] = f"smtp://127.0.0.1:{controller.port}"
    os.environ["FLASHSALE_DEV_MAILBOX"] = str(maildir)
    say(f"local mailbox: SMTP on 127.0.0.1:{controller.port}, read it at /dev/mail (FLASHSALE_DEV_MAIL=false "
        "turns it off)")
    return controller


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    return body.get_content() if body is not None else ""


def render_mailbox(path: Path) -> str:
    """The newest messages of the Maildir as one HTML page (every value escaped)."""
    box = mailbox.Maildir(path, factory=None, create=False)
    found: list[tuple[float, EmailMessage]] = []
    for key in box.iterkeys():
        with contextlib.suppress(KeyError, OSError):
            parsed = message_from_bytes(box.get_bytes(key), _class=EmailMessage, policy=default)
            found.append((box.get_message(key).get_date(), parsed))
    found.sort(key=lambda item: item[0], reverse=True)
    rows = []
    for _, message in found[:SHOWN]:
        rows.append("<article><h2>{}</h2><p><b>To</b> {} &middot; <b>From</b> {} &middot; {}</p><pre>{}</pre>"
                    "</article>".format(*(html.escape(str(v)) for v in (
                        message["Subject"], message["To"], message["From"], message["Date"], _text(message)))))
    return ('<!doctype html><html lang="en"><meta charset="utf-8"><title>Local mailbox</title>'
            f"<h1>Local mailbox ({len(found)} messages)</h1>{''.join(rows) or '<p>No mail yet.</p>'}</html>")
