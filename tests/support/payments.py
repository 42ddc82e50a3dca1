"""An app on a ManualClock with Stripe and Alipay configured against their local stand-ins (fakes/),
which deliver their signed webhooks and notifies to the app in process (an ASGI transport)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import stripe

from app.main import create_app
from core.clock import ManualClock
from core.net import free_port
from core.settings import Settings
from fakes.delivery import Chaos
from fakes.keys import DevKeys, dev_keys
from fakes.server import FakeEndpoints, FakePayments
from tests.support.clock import Manual, drop_own_keys, own_database

BASE = "http://testserver"


@dataclass
class Paying(Manual):
    """The app, its client and clock, and the provider stand-ins with a client of their own."""

    fakes: FakePayments
    endpoints: FakeEndpoints
    keys: DevKeys
    http: httpx.AsyncClient

    async def stripe_confirm(self, payment: dict[str, str], method: str = "pm_card_visa") -> httpx.Response:
        """What Stripe.js does in the buyer's browser: confirm with the publishable key and client_secret."""
        intent = payment["intent_id"]
        return await self.http.post(f"{self.endpoints.stripe_api_base}/v1/payment_intents/{intent}/confirm",
                                    data={"payment_method": method, "client_secret": payment["client_secret"]},
                                    headers={"Authorization": f"Bearer {self.keys.stripe_publishable_key}"})

    def stripe_client(self) -> stripe.StripeClient:
        """Stripe's official library on the stand-in (async calls: the stand-in runs in this loop)."""
        return stripe.StripeClient(self.keys.stripe_secret_key, http_client=stripe.HTTPXClient(),
                                   base_addresses={"api": self.endpoints.stripe_api_base})

    async def alipay_pay(self, redirect_url: str) -> httpx.Response:
        """The buyer pays in the wallet page the redirect opens."""
        return await self.http.post(f"{self.endpoints.alipay_base}/_fake/pay", json={"url": redirect_url})


@pytest.fixture(scope="session")
def payment_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    """One set of the stand-ins' keys for the session: two RSA keys made for each test were a tenth of
    the fast lane's CPU."""
    return dev_keys(tmp_path_factory.mktemp("payments"))


@pytest.fixture
async def paying(manual_settings: Settings, payment_keys: DevKeys, tmp_path: Path) -> AsyncIterator[Paying]:
    keys = payment_keys  # the session's: RSA keys are slow to make
    stripe_port, alipay_port = free_port(), free_port()
    env = FakeEndpoints(stripe_api_base=f"http://127.0.0.1:{stripe_port}",
                        alipay_gateway=f"http://127.0.0.1:{alipay_port}/gateway.do", keys=keys).service_env()
    settings = own_database(manual_settings, tmp_path).model_copy(update={
        **{name.removeprefix("FLASHSALE_").lower(): value for name, value in env.items()},
        "public_base_url": BASE})
    clock = ManualClock()
    application = create_app(settings, clock=clock)
    fakes = FakePayments(keys, stripe_port=stripe_port, alipay_port=alipay_port,
                         stripe_webhook_url=f"{BASE}/api/payments/stripe/webhook", chaos=Chaos(),
                         transports={BASE: httpx.ASGITransport(app=application)})
    async with application.router.lifespan_context(application), fakes as endpoints:
        transport = httpx.ASGITransport(app=application)
        async with (httpx.AsyncClient(transport=transport, base_url=BASE, timeout=30) as client,
                    httpx.AsyncClient(timeout=30) as http):
            yield Paying(application, client, clock, settings, fakes, endpoints, keys, http)
    drop_own_keys(settings, manual_settings)

