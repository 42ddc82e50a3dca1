"""Email: a message built with the standard `email` package (plain text plus HTML; names go through
its header encoding, never pasted into a header, so a line break in a name cannot add a header), and
sent with aiosmtplib over a few kept-open connections to FLASHSALE_SMTP_URL."""
from __future__ import annotations

import asyncio
import base64
import html
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from urllib.parse import unquote, urlsplit

import aiosmtplib

from messages.texts import Words, footer

CONNECTIONS = 8  # SMTP connections a sender keeps open (each sends one message at a time)
TIMEOUT_SECONDS = 15.0


class PermanentFailure(Exception):
    """The server refused the message for good (5xx): retrying would not help."""


class NothingToSend(Exception):
    """The channel has nowhere to send this (no push subscription left): skipped, not failed."""


@dataclass(frozen=True, slots=True)
class Letter:
    to: str
    to_name: str | None
    words: Words
    language: str
    link: str
    unsubscribe: str
    message_key: str  # the outbox's key: the Message-ID is made from it, the same on a retry
    sent_at: datetime


def _clean(text: str) -> str:
    """No control characters in a display name (the header encoder would encode them, but a name
    needs none)."""
    return "".join(ch for ch in text if ch.isprintable())[:80]


def _header(value: str) -> str:
    """An unstructured header's value: as is when plain ASCII, else RFC 2047 encoded words (folded)."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def _part(content_type: str, text: str) -> bytes:
    body = base64.encodebytes(text.encode())  # lines of 76, CRLF-safe whatever the text holds
    return (f"Content-Type: {content_type}; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .encode() + body.replace(b"\n", b"\r\n"))


def build(letter: Letter, sender: str, sender_name: str, domain: str) -> bytes:
    """The message's bytes: headers from email.utils and email.header (names and subjects encoded,
    control characters dropped first, so nothing a buyer types can start a header line), a plain text
    and an HTML part in base64. Assembled here rather than by EmailMessage: its header registry costs
    about 6 ms a message, which capped the sender at some 150 messages a second."""
    stop = footer(letter.language, letter.unsubscribe)
    text = f"{letter.words.body}\n\n--\n{stop}\n"
    link = html.escape(letter.link, quote=True)
    unsubscribe = html.escape(letter.unsubscribe, quote=True)
    stop_html = html.escape(footer(letter.language, "")).rstrip(": \uff1a")
    page = (f'<!doctype html><html lang="{html.escape(letter.language)}"><body>'
            f"<p>{html.escape(letter.words.body)}</p><p><a href=\"{link}\">{link}</a></p>"
            f'<hr><p style="font-size:small"><a href="{unsubscribe}">{stop_html}</a></p></body></html>')
    boundary = "=_" + secrets.token_hex(12)
    headers = [
        ("From", formataddr((_clean(sender_name), sender), charset="utf-8")),
        ("To", formataddr((_clean(letter.to_name or ""), letter.to), charset="utf-8")),
        ("Subject", _header(_clean(letter.words.subject))),
        ("Date", format_datetime(letter.sent_at)),
        ("Message-ID", f"<{letter.message_key.replace(':', '.')}@{domain}>"),
        ("Content-Language", letter.language),
        ("List-Unsubscribe", f"<{letter.unsubscribe}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
    sep = f"--{boundary}\r\n".encode()
    return (head + b"\r\n" + sep + _part("text/plain", text) + sep + _part("text/html", page)
            + f"--{boundary}--\r\n".encode())


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool          # smtps:// (implicit TLS)
    starttls: bool     # smtp://...?starttls=1
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("FLASHSALE_SMTP_URL must be smtp://host:port or smtps://host:port")
        tls = parts.scheme == "smtps"
        return cls(parts.hostname, parts.port or (465 if tls else 25), tls, "starttls=1" in parts.query,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)


class SmtpMailer:
    """A few SMTP connections, each opened on first use and again after an error."""

    def __init__(self, target: SmtpTarget, sender: str, sender_name: str, domain: str,
                 connections: int = CONNECTIONS) -> None:
        self.target = target
        self.sender = sender
        self.sender_name = sender_name
        self.domain = domain
        self._idle: asyncio.Queue[aiosmtplib.SMTP] | None = None
        self._count = connections

    def _pool(self) -> asyncio.Queue[aiosmtplib.SMTP]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self._count):
                t = self.target
                self._idle.put_nowait(aiosmtplib.SMTP(hostname=t.host, port=t.port, use_tls=t.tls,
                                                      start_tls=t.starttls or None, username=t.username,
                                                      password=t.password, timeout=TIMEOUT_SECONDS))
        return self._idle

    async def send(self, letter: Letter) -> None:
        message = build(letter, self.sender, self.sender_name, self.domain)
        pool = self._pool()
        client = await pool.get()
        try:
            if not client.is_connected:
                await client.connect()
            if _PLAIN.fullmatch(self.sender) and _PLAIN.fullmatch(letter.to):
                await _transaction(client, self.sender, letter.to, message)
            else:  # an address to quote or encode (SMTPUTF8): aiosmtplib's own parsing and quoting
                await client.sendmail(self.sender, [letter.to], message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"recipient refused: {exc.recipients[0].code}") from exc
        except aiosmtplib.SMTPRecipientRefused as exc:
            await _reset(client)
            raise PermanentFailure(f"recipient refused: {exc.code}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            _close(client)
            if 500 <= exc.code < 600:
                raise PermanentFailure(f"SMTP {exc.code}") from exc
            raise
        except Exception:
            _close(client)
            raise
        finally:
            pool.put_nowait(client)

    async def close(self) -> None:
        if self._idle is None:
            return
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client.is_connected:
                try:
                    await client.quit()
                except Exception:
                    client.close()


# An address sent as it is, between angle brackets: printable ASCII with no space, bracket, quote or
# backslash (nothing that needs quoting, nothing that could end the command line).
_PLAIN = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


async def _transaction(client: aiosmtplib.SMTP, sender: str, to: str, message: bytes) -> None:
    """MAIL, RCPT and DATA with addresses already known plain: sendmail's address parsing (email.utils,
    twice a message) was a third of the sender's time per message."""
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    response = await client.execute_command(b"MAIL", f"FROM:<{sender}>".encode("ascii"))
    if response.code != 250:
        await _reset(client)
        raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
    response = await client.execute_command(b"RCPT", f"TO:<{to}>".encode("ascii"))
    if response.code not in (250, 251):
        raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, to)
    await client.data(message)


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET after a refusal, so the connection's next message starts a transaction of its own."""
    try:
        await client.rset()
    except Exception:
        _close(client)


def _close(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        client.close()
