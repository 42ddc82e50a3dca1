"""The development payment keys (made once under a private directory, the same for every process that
starts at once) and `flashsale dev payments`, which serves the fakes and prints a service's settings."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fakes.keys import dev_keys, public_pem
from fakes.server import FakeEndpoints

# The providers' stand-ins alone: neither back end of the pass is reached.
pytestmark = pytest.mark.neutral

PRINT_KEYS = ("import sys; from pathlib import Path; from fakes.keys import dev_keys; "
              "k = dev_keys(Path(sys.argv[1])); print(k.stripe_secret_key, k.stripe_webhook_secret, "
              "k.app_private_pem.replace(chr(10), ''), k.gateway_private_pem.replace(chr(10), ''))")


def test_keys_are_made_once_private_and_shared_by_processes_starting_together(tmp_path: Path) -> None:
    directory = tmp_path / "var" / "payments"
    starts = [subprocess.Popen([sys.executable, "-c", PRINT_KEYS, str(directory)], stdout=subprocess.PIPE, text=True)
              for _ in range(6)]
    seen = {process.communicate(timeout=60)[0] for process in starts}
    assert all(process.returncode == 0 for process in starts)
    assert len(seen) == 1, "every process must read the same keys"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not [p for p in directory.iterdir() if p.name.startswith(".")], "no temporary file is left"
    keys = dev_keys(directory)
    assert keys.stripe_secret_key.startswith("sk_test_") and keys.stripe_publishable_key.startswith("pk_test_")
    assert keys.stripe_webhook_secret.startswith("whsec_")
    assert keys.app_public_pem == public_pem(keys.app_private_pem) != keys.gateway_public_pem
    assert keys.gateway_public_path.read_text().strip() == keys.gateway_public_pem.strip()
    assert keys.stripe_secret_key not in repr(keys) and "PRIVATE" not in repr(keys)


def test_service_env_names_every_setting(tmp_path: Path) -> None:
    keys = dev_keys(tmp_path)
    env = FakeEndpoints("http://127.0.0.1:1", "http://127.0.0.1:2/gateway.do", keys).service_env()
    assert set(env) == {"FLASHSALE_STRIPE_API_BASE", "FLASHSALE_STRIPE_SECRET_KEY", "FLASHSALE_STRIPE_WEBHOOK_SECRET",
                        "FLASHSALE_STRIPE_PUBLISHABLE_KEY", "FLASHSALE_ALIPAY_GATEWAY", "FLASHSALE_ALIPAY_APP_ID",
                        "FLASHSALE_ALIPAY_APP_PRIVATE_KEY", "FLASHSALE_ALIPAY_PUBLIC_KEY"}
    assert Path(env["FLASHSALE_ALIPAY_APP_PRIVATE_KEY"]).read_text().strip() == keys.app_private_pem.strip()


@pytest.mark.slow
def test_flashsale_dev_payments_serves_both_fakes_and_prints_the_settings(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FLASHSALE_")}
    environment["FLASHSALE_VAR_DIR"] = str(tmp_path / "var")
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "dev", "payments", "--stripe-port", "0",
                                "--alipay-port", "0"], env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        lines: dict[str, str] = {}
        for line in process.stdout:
            if line.startswith("Ctrl-C"):
                break
            if line.startswith("FLASHSALE_"):
                name, _, value = line.strip().partition("=")
                lines[name] = value
        keys = dev_keys(tmp_path / "var" / "payments")
        assert lines["FLASHSALE_STRIPE_SECRET_KEY"] == keys.stripe_secret_key
        assert lines["FLASHSALE_ALIPAY_PUBLIC_KEY"] == str(keys.gateway_public_path.resolve())
        denied = httpx.get(lines["FLASHSALE_STRIPE_API_BASE"] + "/v1/payment_intents")
        assert denied.status_code == 401 and denied.json()["error"]["type"] == "invalid_request_error"
        assert httpx.get(lines["FLASHSALE_ALIPAY_GATEWAY"]).json()["error_response"]["code"] == "40002"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
