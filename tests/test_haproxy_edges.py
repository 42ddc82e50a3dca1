"""deploy/haproxy.cfg refuses /metrics to anyone not on the balancer's own host (404, however the
path is spelt), and passes it from loopback. HAProxy alone: no node behind it (so passed requests
get its 503)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.net import free_port
from tests.support.server import stop_process

pytestmark = [pytest.mark.slow, pytest.mark.cluster]  # HAProxy alone; the cluster pass has haproxy installed
ROOT = Path(__file__).resolve().parent.parent


def outside_address() -> str | None:
    """This host's address on a non-loopback interface (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


@pytest.fixture(scope="module")
def balancer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        pytest.fail("haproxy is not installed (apt-get install haproxy; .ci/run installs it)")
    port = free_port()
    env = {**os.environ, "FLASHSALE_LB_BIND": f"0.0.0.0:{port}", "APP1": f"127.0.0.1:{free_port()}",
           "APP2": f"127.0.0.1:{free_port()}", "FLASHSALE_LB_ERRORS": str(ROOT / "deploy" / "errors")}
    log = tmp_path_factory.mktemp("lb") / "haproxy.log"
    process = subprocess.Popen([haproxy, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")], env=env,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                time.sleep(0.05)
        yield port
    finally:
        stop_process(process)


def test_metrics_are_refused_from_outside_and_passed_from_loopback(balancer: int) -> None:
    outside = outside_address()
    if outside is None:  # CI must not pass this check by skipping it
        message = "this host has no non-loopback address to come from"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    for path in ("/metrics", "/metrics/", "/%6detrics", "/metrics?x=1"):
        refused = httpx.get(f"http://{outside}:{balancer}{path}", timeout=5)
        assert refused.status_code == 404, (path, refused.status_code)
    # Anything else from outside, and /metrics from this host, goes on to a node (none up: 503).
    assert httpx.get(f"http://{outside}:{balancer}/healthz", timeout=5).status_code == 503
    assert httpx.get(f"http://127.0.0.1:{balancer}/metrics", timeout=5).status_code == 503
