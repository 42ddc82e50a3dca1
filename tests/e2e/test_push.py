"""Remind me by web push, in Chromium: a shopper sets a reminder on the drop page (the page registers the
service worker and a push subscription), the drop opens, the server's real send path (pywebpush with
VAPID, from the messages process) posts the encrypted message to a local push service in this test,
which decrypts it (RFC 8291, http_ece) with the key the page made; the payload goes to the page's real
service worker (CDP ServiceWorker.deliverPushMessage, what a push service's delivery does), which shows
the notification; its click path takes the shopper's window to the drop.

Headless Chromium has no push service of its own (PushManager.subscribe asks Google's, and is refused):
an init script stands in for `subscribe` alone, returning a subscription whose endpoint is this test's
push service and whose keys are a real P-256 pair and auth secret made in the page with WebCrypto, so
the server encrypts to keys only the page's side holds. A click on a notification cannot be made
headless (no notification UI), and a window may only be opened by a real click: the test calls the
worker's click path (`openFromNotification`, what its notificationclick handler runs), whose refused
new window takes the shopper's open window to the drop.
"""
from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import expect

from core.net import free_port
from tests.e2e.helpers import WATCH_SCRIPT, Server, Watch, iso, sign_in, unique_email

# Stands in for PushManager.subscribe (see the module's docstring); the keys' private half goes to
# sessionStorage for the test, with the server key the page asked to subscribe with.
SUBSCRIBE = """
(() => {
  if (!window.PushManager) return;
  const endpoint = %s;
  const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  PushManager.prototype.subscribe = async function (options) {
    const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
    const p256dh = b64(await crypto.subtle.exportKey("raw", pair.publicKey));
    const auth = b64(crypto.getRandomValues(new Uint8Array(16)));
    const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
    const serverKey = b64(options.applicationServerKey);
    sessionStorage.setItem("e2e-push", JSON.stringify({ d: jwk.d, auth, serverKey }));
    const json = { endpoint, expirationTime: null, keys: { p256dh, auth } };
    return { endpoint, expirationTime: null, options, toJSON: () => json, getKey: () => null,
             unsubscribe: async () => true };
  };
})();
"""


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class PushInbox:
    """A local push service: what the server POSTed to each endpoint (headers, body)."""

    port: int
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/push/{name}"


@pytest.fixture
def push_inbox() -> Iterator[PushInbox]:
    inbox = PushInbox(free_port())

    class Receive(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            inbox.received.append((dict(self.headers), body))
            self.send_response(201)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", inbox.port), Receive)
    thread = threading.Thread(target=server.serve_forever, name="push-inbox", daemon=True)
    thread.start()
    yield inbox
    server.shutdown()
    server.server_close()


def test_reminder_by_push_shown_by_the_service_worker_opens_the_drop(
        browser: Any, server: Server, push_inbox: PushInbox) -> None:
    api = server.api
    operator_token = server.operator[1]
    shopper = unique_email("push")
    api.register(shopper)
    starts = datetime.now(UTC) + timedelta(hours=1)
    drop = api.create_drop(operator_token, name="Push Phone E2E", starts_at=iso(starts),
                           ends_at=iso(starts + timedelta(hours=1)))
    endpoint = push_inbox.url(uuid.uuid4().hex)

    watch = Watch()
    context = browser.new_context(base_url=server.base_url, locale="en-GB", timezone_id="UTC")
    try:
        context.grant_permissions(["notifications"], origin=server.base_url)
        context.set_default_timeout(15_000)
        context.expose_function("__e2eReport", lambda text: watch.problems.append(f"shopper: {text}"))
        context.add_init_script(WATCH_SCRIPT)
        context.add_init_script(SUBSCRIBE % json.dumps(endpoint))
        context.on("console", lambda message: watch.console("shopper", message))
        context.on("weberror", lambda error: watch.problems.append(f"shopper: uncaught {error.error}"))
        context.on("response", lambda response: watch.response("shopper", response))
        page = context.new_page()
        sign_in(page, shopper, next_path=f"/drops/{drop['id']}")

        # Remind me: the page registers /sw.js, subscribes, sends the subscription, then the reminder.
        expect(page.locator("#remind")).to_be_visible()
        with page.expect_response(lambda r: r.url.endswith(f"/api/drops/{drop['id']}/reminder")
                                  and r.request.method == "PUT") as answered:
            page.click("#remind-button")
        assert answered.value.status == 200
        assert answered.value.json()["channels"] == ["email", "push"]
        keys = json.loads(page.evaluate("() => sessionStorage.getItem('e2e-push')"))
        assert keys["serverKey"] == api.http.get("/api/push/key").json()["vapid_public_key"]

        # The drop opens in a moment; its drop-open message goes out by push.
        api.call("PATCH", f"/api/admin/drops/{drop['id']}", operator_token,
                 json={"starts_at": iso(datetime.now(UTC) + timedelta(seconds=2))})
        deadline = time.monotonic() + 60
        while not push_inbox.received and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert push_inbox.received, "the server sent no push"
        headers, body = push_inbox.received[0]
        assert headers["Authorization"].startswith("vapid t=") and headers["Content-Encoding"] == "aes128gcm"
        private = ec.derive_private_key(int.from_bytes(unb64(keys["d"]), "big"), ec.SECP256R1())
        plain = http_ece.decrypt(body, private_key=private, auth_secret=unb64(keys["auth"]), version="aes128gcm")
        payload = json.loads(plain)
        assert payload["kind"] == "drop_open" and "Push Phone E2E" in payload["title"]
        assert payload["url"].endswith(f"/drops/{drop['id']}")

        # The shopper is elsewhere on the site when the push arrives.
        page.goto("/")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        cdp = context.new_cdp_session(page)
        registrations: list[dict[str, Any]] = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
        cdp.send("ServiceWorker.enable")
        page.wait_for_function("() => true")  # lets the events in
        while not registrations and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        ours = [r for r in registrations if r["scopeURL"] == f"{server.base_url}/" and not r["isDeleted"]]
        assert ours, registrations
        cdp.send("ServiceWorker.deliverPushMessage", {"origin": server.base_url,
                                                      "registrationId": ours[0]["registrationId"],
                                                      "data": plain.decode()})
        shown = page.wait_for_function(
            """async () => {
                 const found = await (await navigator.serviceWorker.ready).getNotifications();
                 return found.length
                   ? found.map(n => ({ title: n.title, body: n.body, url: n.data && n.data.url })) : null;
               }""", polling=100).json_value()
        assert shown == [{"title": payload["title"], "body": payload["body"], "url": payload["url"]}]

        # Its click path: the window on the storefront is taken to the drop.
        worker = context.service_workers[0]
        worker.evaluate("""async () => {
          const [notification] = await self.registration.getNotifications();
          notification.close();
          await self.openFromNotification(notification);
        }""")
        page.wait_for_url(f"**/drops/{drop['id']}")
        expect(page.locator("h1")).to_contain_text("Push Phone E2E")
        assert len(push_inbox.received) == 1  # once
        messages = api.call("GET", "/api/me/messages", api.token(shopper))
        opened = [m for m in messages if m["drop_id"] == drop["id"]]
        assert len(opened) == 1 and opened[0]["kind"] == "drop_open" and opened[0]["channels"]["push"] == "sent"
    finally:
        context.close()
    assert not watch.problems, "problems in the browser:\n" + "\n".join(watch.problems)
