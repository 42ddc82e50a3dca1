"""What the Stripe library costs a web worker, against the local stand-in: CPU per notice checked
(`Webhook.construct_event` against `WebhookSignature.verify_header` + a plain parse, as the service now
does) and per PaymentIntent created (the library's httpx client against its aiohttp one).

    .venv/bin/python scripts/bench_stripe.py [--calls 300]

Starts `flashsale dev payments` on free ports for the create calls; CPU is this process's own
(time.process_time), so the stand-in's work is not counted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import stripe

from core.net import free_port
from fakes.stripe_objects import Event, Intent, Origin

BIN = Path(sys.executable).parent


def notices(calls: int) -> None:
    intent = Intent(id="pi_1", client_secret="pi_1_secret", amount=199900, currency="cny",  # noqa: S106
                    metadata={"order_id": "1-abc", "attempt": "1"}, description="Mi Phone",
                    automatic_payment_methods=True, status="succeeded")
    event = Event(id="evt_1", type="payment_intent.succeeded", created=int(time.time()), object=intent.to_json(),
                  api_version="2024-06-20", origin=Origin("req_1", "key"))
    body = json.dumps(event.to_json())
    secret = "whsec_bench"  # noqa: S105 - a throwaway signing secret
    stamp = int(time.time())
    header = f"t={stamp},v1={stripe.WebhookSignature._compute_signature(f'{stamp}.{body}', secret)}"
    started = time.process_time()
    for _ in range(calls):
        stripe.Webhook.construct_event(body, header, secret, tolerance=300).data.object.to_dict()
    before = (time.process_time() - started) / calls * 1e6
    started = time.process_time()
    for _ in range(calls):
        stripe.WebhookSignature.verify_header(body, header, secret, 300)
        orjson.loads(body)
    after = (time.process_time() - started) / calls * 1e6
    print(f"notice: construct_event + to_dict {before:.0f} µs CPU; verify_header + orjson {after:.0f} µs CPU")


async def creates(calls: int, api_base: str, secret_key: str) -> None:
    params: Any = {"amount": 199900, "currency": "cny", "description": "Mi Phone",
              "metadata": {"order_id": "1-x", "attempt": "1"}, "automatic_payment_methods": {"enabled": True}}
    for name, http in (("httpx", stripe.HTTPXClient()),
                       ("aiohttp", stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=5)))):
        client = stripe.StripeClient(secret_key, base_addresses={"api": api_base}, http_client=http)
        await client.v1.payment_intents.create_async(params=params)  # warm: connection, imports
        started = time.process_time()
        for _ in range(calls):
            await client.v1.payment_intents.create_async(params=params,
                                                         options={"idempotency_key": uuid.uuid4().hex})
        print(f"create: {name} client {(time.process_time() - started) / calls * 1e6:.0f} µs CPU per intent")
        if name == "aiohttp":
            # The same call through the library's raw_request_async (its auth, retries, idempotency
            # and error mapping), the answer parsed with orjson instead of into a StripeObject tree.
            started = time.process_time()
            for _ in range(calls):
                answer = await client.raw_request_async(
                    "post", "/v1/payment_intents", idempotency_key=uuid.uuid4().hex, **params)
                orjson.loads(answer.body)
            print(f"create: aiohttp raw_request_async + orjson {(time.process_time() - started) / calls * 1e6:.0f}"
                  " µs CPU per intent")
        await http.close_async()  # type: ignore[no-untyped-call]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    notices(args.calls * 10)
    with tempfile.TemporaryDirectory() as work:
        stripe_port, alipay_port = free_port(), free_port()
        env = {**os.environ, "FLASHSALE_VAR_DIR": str(Path(work) / "var")}
        fake = subprocess.Popen([str(BIN / "flashsale"), "dev", "payments", "--stripe-port", str(stripe_port),  # noqa: S603
                                 "--alipay-port", str(alipay_port)], cwd=work, env=env, stdout=subprocess.PIPE,
                                text=True)
        try:
            assert fake.stdout is not None
            settings = {}
            for line in fake.stdout:
                if line.startswith("FLASHSALE_STRIPE_"):
                    name, _, value = line.strip().partition("=")
                    settings[name] = value
                if line.startswith("Ctrl-C"):
                    break
            asyncio.run(creates(args.calls, settings["FLASHSALE_STRIPE_API_BASE"],
                                settings["FLASHSALE_STRIPE_SECRET_KEY"]))
        finally:
            fake.terminate()
            fake.wait(timeout=10)


if __name__ == "__main__":
    main()
