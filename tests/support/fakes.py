"""The payment fakes for tests: `payment_fakes`, a session fixture serving the fake Stripe API and the
fake Alipay gateway from a background thread (each xdist worker its own: ports are bound as 0, keys
are made under the worker's temporary directory); clients of the official libraries pointed at them;
a tiny receiver for webhooks and notifies; and context managers that change the fakes' session-wide
settings (webhook URL, chaos) for one test and put them back."""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import stripe
from alipay import AliPay

from fakes.delivery import Chaos
from fakes.keys import DevKeys
from fakes.server import FakeEndpoints, FakePayments

# Tests end quickly: retries of a refused notice 20 ms apart, at most 4 tries.
TEST_CHAOS = Chaos(max_attempts=4, retry_base_seconds=0.02, retry_max_seconds=0.1)


@dataclass(frozen=True)
class PaymentFakes:
    """The running fakes: their URLs and keys (`endpoints`), their state (`runner.stripe`, `runner.alipay`:
    read it only, the fakes' thread owns it), and clients of the official libraries."""
    runner: FakePayments
    endpoints: FakeEndpoints
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))  # one: each new one costs ~50 ms
    _alipay: dict[str, AliPay] = field(default_factory=dict)  # the SDK's client takes ~0.1 s to make

    @property
    def keys(self) -> DevKeys:
        return self.endpoints.keys

    def stripe_client(self, api_key: str | None = None, *,
                      http_client: stripe.HTTPClient | None = None) -> stripe.StripeClient:
        """A StripeClient on the fake (the secret key unless another is given), no network retries."""
        return stripe.StripeClient(api_key or self.keys.stripe_secret_key, http_client=http_client,
                                   base_addresses={"api": self.endpoints.stripe_api_base}, max_network_retries=0)

    def alipay_client(self, app_private_pem: str | None = None) -> AliPay:
        """The SDK's client as a shop configures it, its gateway URL (a private attribute) set to the fake's."""
        pem = app_private_pem or self.keys.app_private_pem
        if pem in self._alipay:
            return self._alipay[pem]
        client = AliPay(appid=self.keys.alipay_app_id, app_notify_url=None, sign_type="RSA2",
                        app_private_key_string=pem,
                        alipay_public_key_string=self.keys.gateway_public_pem)
        client._gateway = self.endpoints.alipay_gateway
        self._alipay[pem] = client
        return client

    def control(self, fake: str, method: str, path: str, **json: object) -> dict[str, object]:
        """A `/_fake/...` call to "stripe" or "alipay"; fails the test on an error answer."""
        base = self.endpoints.stripe_api_base if fake == "stripe" else self.endpoints.alipay_base
        response = self.http.request(method, base + path, json=json if method != "GET" else None)
        assert response.status_code == 200, response.text
        answer: dict[str, object] = response.json()
        return answer

    def drain(self, fake: str, seconds: float = 10) -> dict[str, object]:
        """Waits for the fake's deliveries under way; returns its figures (fails if they did not finish)."""
        answer = self.control(fake, "POST", f"/_fake/deliveries/drain?timeout={seconds}")
        assert answer["drained"], answer
        stats = answer["stats"]
        assert isinstance(stats, dict)
        return stats

    @contextlib.contextmanager
    def chaos(self, fake: str, **changes: float) -> Iterator[None]:
        """The fake's delivery chaos changed for the block (figures zeroed first), then put back."""
        before = self.control(fake, "GET", "/_fake/deliveries")["chaos"]
        assert isinstance(before, dict)
        self.control(fake, "POST", "/_fake/deliveries/reset")
        self.control(fake, "POST", "/_fake/deliveries/chaos", **changes)
        try:
            yield
        finally:
            self.drain(fake, 30)
            self.control(fake, "POST", "/_fake/deliveries/chaos", **before)

    @contextlib.contextmanager
    def stripe_webhooks_to(self, url: str) -> Iterator[None]:
        """Stripe's events go to `url` for the block, then nowhere again (after those under way arrived)."""
        self.control("stripe", "POST", "/_fake/webhook", url=url)
        try:
            yield
        finally:
            self.drain("stripe", 30)
            self.control("stripe", "POST", "/_fake/webhook", url=None)


@pytest.fixture(scope="session")
def payment_fakes(payment_keys: DevKeys) -> Iterator[PaymentFakes]:
    runner = FakePayments(payment_keys, chaos=TEST_CHAOS)
    endpoints = runner.start()
    fakes = PaymentFakes(runner, endpoints)
    yield fakes
    fakes.http.close()
    runner.stop()


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What a shop's webhook or notify endpoint received; `answer(n)` gives the n-th (from 1) answer."""
    answer: Callable[[int], tuple[int, bytes]]
    received: list[Received] = field(default_factory=list)
    url: str = ""
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, seconds: float = 10) -> list[Received]:
        deadline = time.monotonic() + seconds
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.received)} of {count} deliveries arrived"
                self._arrived.wait(left)
            return list(self.received)

    def record(self, item: Received) -> tuple[int, bytes]:
        with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()
            return self.answer(len(self.received))


@contextlib.contextmanager
def receiver(answer: Callable[[int], tuple[int, bytes]] = lambda _n: (200, b"success")) -> Iterator[Receiver]:
    """A tiny HTTP server on a free loopback port recording every POST (its URL: `.url` + any path)."""
    sink = Receiver(answer)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, reply = sink.record(Received(self.path, dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
