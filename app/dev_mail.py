"""The local mailbox a newcomer's store sends to: on the embedded defaults `flashsale serve` starts an
SMTP server (aiosmtpd) beside the embedded Valkey, keeping what it receives in a Maildir under var/,
and hands its address to the workers; `/dev/mail` shows it (never in production). The server runs in
a process of its own at the messages process's lower CPU priority: in a thread of `serve` it shared
the interpreter lock with the web worker (`--workers 1` serves in that process), and a drop-open
burst of email (some 0.5 ms of CPU a message) took its share from buyers' requests."""
from __future__ import annotations

import contextlib
import html
import itertools
import mailbox
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.smtp import Envelope

from app.messages_process import NICENESS, die_with_parent
from core.net import free_port
from core.settings import Settings, private_dir

DEFAULT_PORT = 8025
START_SECONDS = 15.0  # a start on a loaded 2-core machine
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


class LocalMailbox:
    """The `python -m aiosmtpd` child filing into the Maildir: stopped by stop(), and by the kernel
    with the thread that started it (a `serve` killed outright takes it along)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _spawn(maildir: Path, port: int) -> LocalMailbox | None:
    """The server on `port`, once it answers; None if it ends first (the port taken) or never answers."""
    process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "app.dev_mail.RawMaildir",
         str(maildir)], stdout=subprocess.DEVNULL, process_group=0, preexec_fn=_lower_priority)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return LocalMailbox(process, port)
        time.sleep(0.05)
    LocalMailbox(process, port).stop()
    return None


def _lower_priority() -> None:
    """In the child before it runs: the messages process's niceness, and SIGTERM when `serve` ends."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    if sys.platform == "linux":
        die_with_parent()


def start_dev_mail(settings: Settings, say: Callable[[str], object]) -> LocalMailbox | None:
    if not (settings.on_embedded_defaults and settings.dev_mail) or settings.smtp_url:
        return None
    maildir = private_dir(settings.var_dir / "mail").resolve()
    for part in ("tmp", "new", "cur"):  # made here, so the first look at /dev/mail finds a Maildir
        private_dir(maildir / part)
    mailbox_server = None
    for port in (DEFAULT_PORT, free_port()):  # the usual port when free, else any
        if port == DEFAULT_PORT and not _free(port):
            continue
        mailbox_server = _spawn(maildir, port)
        if mailbox_server is not None:
            break
    if mailbox_server is None:
        say("local mailbox: could not start an SMTP server; email waits in the outbox")
        return None
    os.environ["FLASHSALE_SMTP_URL"] = f"smtp://127.0.0.1:{mailbox_server.port}"
    os.environ["FLASHSALE_DEV_MAILBOX"] = str(maildir)
    say(f"local mailbox: SMTP on 127.0.0.1:{mailbox_server.port}, read it at /dev/mail (FLASHSALE_DEV_MAIL=false "
        "turns it off)")
    return mailbox_server


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


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
