"""Runs both fakes with uvicorn inside this process: in a background thread with its own event loop
(`start()` / `stop()`, or `with FakePayments(...) as endpoints:`), usable from pytest, the load test,
`flashsale dev payments` and a service's start-up; or in the caller's running loop (`async with`),
where notices can reach an in-process ASGI app through `transports`."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType

import httpx
import uvicorn

from fakes.alipay_gateway import FakeAlipay
from fakes.delivery import Chaos, Deliverer
from fakes.keys import DevKeys
from fakes.stripe_api import FakeStripe

DEFAULT_STRIPE_PORT, DEFAULT_ALIPAY_PORT = 12111, 12112
KEEP_ALIVE_SECONDS = 75


@dataclass(frozen=True)
class FakeEndpoints:
    """Where the running fakes answer, and the keys they use."""
    stripe_api_base: str   # e.g. http://127.0.0.1:12111 (what stripe.api_base / base_addresses["api"] takes)
    alipay_gateway: str    # e.g. http://127.0.0.1:12112/gateway.do (what AliPay._gateway takes)
    keys: DevKeys

    @property
    def alipay_base(self) -> str:
        return self.alipay_gateway.removesuffix("/gateway.do")

    def service_env(self) -> dict[str, str]:
        """The FLASHSALE_* settings of a service using these fakes. The two Alipay keys are given as paths
        to PEM files (0600, under the keys' directory)."""
        k = self.keys
        return {"FLASHSALE_STRIPE_API_BASE": self.stripe_api_base, "FLASHSALE_STRIPE_SECRET_KEY": k.stripe_secret_key,
                "FLASHSALE_STRIPE_WEBHOOK_SECRET": k.stripe_webhook_secret,
                "FLASHSALE_STRIPE_PUBLISHABLE_KEY": k.stripe_publishable_key,
                "FLASHSALE_ALIPAY_GATEWAY": self.alipay_gateway, "FLASHSALE_ALIPAY_APP_ID": k.alipay_app_id,
                "FLASHSALE_ALIPAY_APP_PRIVATE_KEY": str(k.app_private_path.resolve()),
                "FLASHSALE_ALIPAY_PUBLIC_KEY": str(k.gateway_public_path.resolve())}

    def shell_lines(self) -> list[str]:
        """`NAME=value` lines (shell-quoted): for `export`, an env file or `env $(...)`."""
        return [f"{name}={shlex.quote(value)}" for name, value in self.service_env().items()]


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process embedding the fakes keeps its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class FakePayments:
    """Both fakes. Port 0 (the default) takes a free port at bind time, so concurrent test workers never
    collide; `stripe_webhook_url` is where Stripe's events go (None: kept, not sent; settable later as
    `.stripe.webhook_url` or with POST /_fake/webhook). Alipay's notifies go to each trade's notify_url."""

    def __init__(self, keys: DevKeys, *, host: str = "127.0.0.1", stripe_port: int = 0, alipay_port: int = 0,
                 stripe_webhook_url: str | None = None, chaos: Chaos | None = None,
                 transports: Mapping[str, httpx.AsyncBaseTransport] | None = None, log_level: str = "warning") -> None:
        self.keys, self.host, self.log_level = keys, host, log_level
        self._ports = (stripe_port, alipay_port)
        self.stripe = FakeStripe(secret_key=keys.stripe_secret_key, publishable_key=keys.stripe_publishable_key,
                                 webhook_secret=keys.stripe_webhook_secret, webhook_url=stripe_webhook_url,
                                 deliverer=Deliverer(chaos, transports=transports))
        self.alipay = FakeAlipay(app_id=keys.alipay_app_id, app_public_pem=keys.app_public_pem,
                                 gateway_private_pem=keys.gateway_private_pem,
                                 deliverer=Deliverer(chaos, transports=transports))
        self._servers: list[tuple[_EmbeddedServer, asyncio.Task[None]]] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.endpoints: FakeEndpoints | None = None

    # -- in the caller's loop -----------------------------------------------------------------------
    async def __aenter__(self) -> FakeEndpoints:
        return await self._start_servers()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self._stop_servers()

    async def _start_servers(self, seconds: float = 15.0) -> FakeEndpoints:
        ports = []
        for app, port in ((self.stripe.app, self._ports[0]), (self.alipay.app, self._ports[1])):
            # Idle connections stay open longer than clients keep them (httpx: 5 s), so that a client never
            # reuses one the server is closing at that moment.
            config = uvicorn.Config(app, host=self.host, port=port, log_level=self.log_level, lifespan="off",
                                    access_log=False, timeout_keep_alive=KEEP_ALIVE_SECONDS)
            server = _EmbeddedServer(config)
            task = asyncio.get_running_loop().create_task(server.serve())
            self._servers.append((server, task))
            async with asyncio.timeout(seconds):
                while not server.started:
                    if task.done():
                        await self._stop_servers()
                        raise RuntimeError(f"a payment fake could not listen on {self.host}:{port}")
                    await asyncio.sleep(0.01)
            ports.append(int(server.servers[0].sockets[0].getsockname()[1]))
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.endpoints = FakeEndpoints(stripe_api_base=f"http://{shown}:{ports[0]}",
                                       alipay_gateway=f"http://{shown}:{ports[1]}/gateway.do", keys=self.keys)
        return self.endpoints

    async def _stop_servers(self) -> None:
        for deliverer in (self.stripe.deliverer, self.alipay.deliverer):
            await deliverer.aclose()
        for server, _task in self._servers:
            server.should_exit = True
        for _server, task in self._servers:
            with contextlib.suppress(BaseException):  # a server that failed to start ended with SystemExit
                await task
        self._servers.clear()

    # -- in a thread of their own -------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> FakeEndpoints:
        """Serves both fakes from a background thread (its own event loop); returns once they listen."""
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def body() -> None:
            self._stopping = asyncio.Event()
            try:
                await self._start_servers(timeout)
            except BaseException as exc:  # handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            await self._stopping.wait()
            await self._stop_servers()

        def main() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(body())
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=main, name="fake-payments", daemon=True)
        self._thread.start()
        if not ready.wait(timeout + 5):
            raise RuntimeError("the payment fakes did not start in time")
        if failure:
            self._thread.join()
            self._thread = None
            raise RuntimeError("the payment fakes did not start") from failure[0]
        assert self.endpoints is not None
        return self.endpoints

    def stop(self, timeout: float = 15.0) -> None:
        """Stops the background thread's fakes (deliveries under way are dropped)."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FakeEndpoints:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def serve_until_interrupted(keys: DevKeys, *, host: str, stripe_port: int, alipay_port: int,
                            stripe_webhook_url: str | None, echo: Callable[[str], None]) -> None:
    """`flashsale dev payments`: both fakes until Ctrl-C, after printing the settings a service needs."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per delivery
    fakes = FakePayments(keys, host=host, stripe_port=stripe_port, alipay_port=alipay_port,
                         stripe_webhook_url=stripe_webhook_url)
    endpoints = fakes.start()
    echo(f"fake Stripe API on {endpoints.stripe_api_base} (webhooks to {stripe_webhook_url or 'nowhere yet'})")
    echo(f"fake Alipay gateway on {endpoints.alipay_gateway}")
    echo("settings for the service (the Alipay keys are paths to PEM files):")
    for line in endpoints.shell_lines():
        echo(line)
    echo("Ctrl-C stops them.")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop ends them cleanly too
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fakes.stop()
