"""The payment stand-ins a newcomer's store uses: on the embedded defaults, `flashsale serve` starts the
fake Alipay gateway (fakes/) beside the embedded Valkey and offers it, so paying shows the asynchronous
flow (the wallet page, back to the order turning paid). Stripe's stand-in is not offered here: its
Payment Element is Stripe's own script, which talks to Stripe."""
from __future__ import annotations

import os
from collections.abc import Callable

from core.settings import Settings
from fakes.keys import dev_keys
from fakes.server import FakePayments


def start_dev_payments(settings: Settings, base_url: str, say: Callable[[str], object]) -> FakePayments | None:
    """Starts the stand-ins when wanted and hands their settings to the workers (the environment)."""
    wanted = settings.on_embedded_defaults and settings.dev_payments
    if not wanted or settings.alipay_app_id or settings.stripe_secret_key:
        return None
    # Free ports: several stores may run on one machine (and the stand-ins keep their trades in memory,
    # so a wallet URL from before a restart names nothing anyway).
    fakes = FakePayments(dev_keys(settings.var_dir / "payments"),
                         stripe_webhook_url=f"{base_url}/api/payments/stripe/webhook")
    endpoints = fakes.start()
    for name, value in endpoints.service_env().items():
        if name.startswith("FLASHSALE_ALIPAY_"):
            os.environ[name] = value
    say(f"payment stand-in: a fake Alipay wallet on {endpoints.alipay_gateway} (FLASHSALE_DEV_PAYMENTS=false "
        "turns it off)")
    return fakes
