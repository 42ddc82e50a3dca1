"""The rehearsal's payment stand-ins in a process of their own (`flashsale dev payments`), as Stripe's
and Alipay's servers are elsewhere: their work (creating intents, the buyers' confirmations, delivering
signed notices) shares no interpreter with the generator and the monitor. In a thread of the rehearsal's
process, the notices' answer times counted that process's GIL waits as the service's."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from core.net import free_port
from core.settings import private_dir
from fakes.delivery import Chaos
from fakes.keys import DevKeys, dev_keys
from fakes.server import FakeEndpoints
from loadtest.server import flashsale_command

START_SECONDS = 60.0


class StandInProcess:
    def __init__(self, work: Path, webhook_url: str, chaos: Chaos) -> None:
        self.var_dir = work / "stand-ins"
        # Made here first: `flashsale dev payments` finds them under its FLASHSALE_VAR_DIR and keeps them.
        self.keys: DevKeys = dev_keys(private_dir(self.var_dir) / "payments")
        self.webhook_url = webhook_url
        self.chaos = chaos
        self.endpoints: FakeEndpoints | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = work / "stand-ins.log"

    def start(self) -> FakeEndpoints:
        stripe_port, alipay_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHSALE_")}
        env.update({"FLASHSALE_VAR_DIR": str(self.var_dir), "FLASHSALE_LOG_LEVEL": "warning"})
        command = [*flashsale_command(), "dev", "payments", "--stripe-port", str(stripe_port),
                   "--alipay-port", str(alipay_port), "--webhook-url", self.webhook_url]
        with self.log_path.open("wb") as log:
            # A process group of its own (stopped as one), in this process's session: Linux shares the
            # CPU between sessions first, and the stand-ins in one of their own took as much as the
            # whole server under test.
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, process_group=0)
        endpoints = FakeEndpoints(stripe_api_base=f"http://127.0.0.1:{stripe_port}",
                                  alipay_gateway=f"http://127.0.0.1:{alipay_port}/gateway.do", keys=self.keys)
        deadline = time.monotonic() + START_SECONDS
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"flashsale dev payments exited ({self.process.returncode}): "
                                       f"{self.log_path.read_text(errors='replace')[-2000:]}")
                try:
                    for base in (endpoints.stripe_api_base, endpoints.alipay_base):
                        client.post(f"{base}/_fake/deliveries/chaos", json=self.chaos.as_json()).raise_for_status()
                except httpx.HTTPError:
                    time.sleep(0.2)
                    continue
                self.endpoints = endpoints
                return endpoints
        self.stop()
        raise RuntimeError(f"flashsale dev payments did not answer in {START_SECONDS:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
