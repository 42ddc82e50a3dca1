"""The local mailbox a newcomer's store sends to: on the embedded defaults `flashsale serve` starts an
SMTP server (aiosmtpd) beside the embedded Valkey, keeping what it receives in a Maildir under var/,
and hands its address to the workers; `/dev/mail` shows it (never in production)."""
from __future__ import annotations

import contextlib
import html
import mailbox
import os
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from core.net import free_port
from core.settings import Settings, private_dir

DEFAULT_PORT = 8025
SHOWN = 50


def start_dev_mail(settings: Settings, say: Callable[[str], object]) -> Controller | None:
    if not (settings.on_embedded_defaults and settings.dev_mail) or settings.smtp_url:
        return None
    maildir = private_dir(settings.var_dir / "mail").resolve()
    for part in ("tmp", "new", "cur"):  # a Maildir's own folders (mailbox makes them only for a new path)
        private_dir(maildir / part)
    controller = None
    for port in (DEFAULT_PORT, free_port()):  # the usual port when free, else any
        candidate = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port)
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
