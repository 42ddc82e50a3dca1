"""Web push (RFC 8030, payloads encrypted per RFC 8291 by pywebpush, VAPID per RFC 8292): the key
pair, the endpoints a browser may register (https on public hosts: the service POSTs to them, so a
loopback, private or link-local address is refused, outside development), and the transport that
sends a claimed delivery to each of the account's subscriptions, deleting those the push service
reports gone (404/410)."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import private_dir
from messages.channels import link_of, words_of
from messages.exceptions import BadPushEndpoint
from messages.mail import NothingToSend, PermanentFailure
from messages.repository import Claimed, PushRepository

TTL_SECONDS = 3600
TIMEOUT_SECONDS = 10.0


def load_vapid(value: str, var_dir: Path | None) -> Vapid02 | None:
    """The VAPID key: the setting (PEM text or a file), else in development one made once under var/."""
    if value:
        pem = value if value.lstrip().startswith("-----BEGIN") else Path(value).read_text(encoding="ascii")
        return Vapid02.from_pem(pem.encode())
    if var_dir is None:
        return None
    path = private_dir(var_dir / "secrets") / "vapid_private_key.pem"
    if not path.exists():
        key = Vapid02()
        key.generate_keys()
        temporary = path.with_name(f"vapid-{os.getpid()}.tmp")
        key.save_key(str(temporary))
        temporary.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # several workers may race: the first key linked is everyone's
        temporary.unlink()
    return Vapid02.from_file(str(path))


def public_key(vapid: Vapid02) -> str:
    """The applicationServerKey a browser subscribes with: the uncompressed P-256 point, base64url."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_endpoint(endpoint: str, *, development: bool) -> None:
    """422 push_endpoint_refused unless `endpoint` is an https URL whose host resolves only to public
    addresses; in development a loopback host is allowed too (http or https), for local push services."""
    parts = urlsplit(endpoint)
    host = parts.hostname
    if not host or parts.username or parts.password or parts.scheme not in ("https", "http"):
        raise BadPushEndpoint()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise BadPushEndpoint("The push endpoint's host does not resolve") from exc
    addresses = {str(info[4][0]) for info in infos}
    if addresses and all(_public(a) for a in addresses) and parts.scheme == "https":
        return
    if development and addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses):
        return
    raise BadPushEndpoint()


class PushTransport:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], vapid: Vapid02, subject: str, base_url: str,
                 development: bool) -> None:
        self.sessions = sessions
        self.vapid = vapid
        self.subject = subject
        self.base_url = base_url
        self.development = development
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # no redirects followed: a push service answers, it never sends us on
            self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False)
        return self._client

    async def deliver(self, item: Claimed) -> None:
        async with self.sessions() as session:
            subscriptions = await PushRepository(session).of_user(item.user_id)
        if not subscriptions:
            raise NothingToSend("no push subscription")
        words = words_of(item, self.base_url)
        payload = orjson.dumps({"title": words.subject, "body": words.body, "kind": item.kind,
                                "url": link_of(self.base_url, item.kind, item.drop_id, item.order_id),
                                "tag": item.key}).decode()
        delivered, failures = 0, []
        for subscription in subscriptions:
            try:
                await check_endpoint(subscription.endpoint, development=self.development)  # again: DNS changes
                status = await self._post(subscription.endpoint, subscription.p256dh, subscription.auth, payload)
            except (BadPushEndpoint, httpx.HTTPError) as exc:
                failures.append(type(exc).__name__)
                continue
            if status in (404, 410):
                async with self.sessions.begin() as session:
                    await PushRepository(session).remove(subscription.id or 0)
            elif status < 300:
                delivered += 1
            else:
                failures.append(f"HTTP {status}")
        if delivered:
            return
        if not failures:
            raise NothingToSend("every push subscription is gone")
        if all(f.startswith("HTTP 4") for f in failures):
            raise PermanentFailure("push refused: " + ", ".join(failures))
        raise ConnectionError("push failed: " + ", ".join(failures))

    async def _post(self, endpoint: str, p256dh: str, auth: str, payload: str) -> int:
        # Imported on the first push, not at start-up: pywebpush brings aiohttp and requests (130 ms
        # of every process's start, and most processes never push).
        from pywebpush import WebPusher

        pusher = WebPusher({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
        body = pusher.encode(payload.encode(), "aes128gcm")["body"]
        parts = urlsplit(endpoint)
        claims = {"sub": self.subject, "aud": f"{parts.scheme}://{parts.netloc}"}
        headers = {**self.vapid.sign(claims), "TTL": str(TTL_SECONDS), "Content-Encoding": "aes128gcm",
                   "Content-Type": "application/octet-stream", "Urgency": "high"}
        response = await self._http().post(endpoint, content=body, headers=headers)
        return response.status_code
