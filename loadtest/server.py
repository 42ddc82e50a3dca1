"""A server of our own for a rehearsal without --host: `flashsale serve` on the embedded defaults
(SQLite + embedded Valkey) in a temporary directory, on a free loopback port."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from core.net import free_port
from core.settings import Settings


def flashsale_command() -> list[str]:
    """The console script of this environment (a fresh clone's .venv), not whichever is on PATH."""
    beside = Path(sys.executable).parent / "flashsale"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("flashsale")
    return [found] if found else [sys.executable, "-c", "from app.cli import main; main()"]


def default_settings(**overrides: object) -> Settings:
    """Settings from the defaults only, whatever FLASHSALE_* this shell exports."""
    values = {name: info.get_default(call_default_factory=True)
              for name, info in Settings.model_fields.items()}
    values.update(overrides)
    return Settings(**values)


class LocalServer:
    def __init__(self, workdir: Path, *, workers: int = 2, port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.workdir = workdir.resolve()
        self.extra_env = dict(env or {})  # FLASHSALE_* settings of this server, over the defaults here
        self.workers = workers
        self.port = port or free_port()
        self.jwt_secret = secrets.token_urlsafe(48)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings(self) -> Settings:
        """What the server runs on: for the database check and for minting seeded buyers' tokens."""
        return default_settings(var_dir=self.workdir / "var", jwt_secret=self.jwt_secret,
                                public_base_url=self.url)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("FLASHSALE_") and k != "PROMETHEUS_MULTIPROC_DIR"}
        env.update({"FLASHSALE_VAR_DIR": str(self.workdir / "var"), "FLASHSALE_JWT_SECRET": self.jwt_secret,
                    "FLASHSALE_PUBLIC_BASE_URL": self.url, "FLASHSALE_LOG_LEVEL": "warning",
                    # The generator stands in for many clients: it names each one in X-Forwarded-For.
                    "FLASHSALE_TRUSTED_PROXIES": "127.0.0.1"})
        # The whole crowd comes from this one generator's address: lift the per-address limits
        # (registrations, sign-ins, unpaid units per drop), which exist for strangers on the internet.
        env.update({"FLASHSALE_REGISTER_PER_ADDRESS_PER_HOUR": "1000000000",
                    "FLASHSALE_LOGIN_PER_ADDRESS_PER_MINUTE": "1000000000",
                    "FLASHSALE_MAX_UNPAID_PER_ADDRESS": "1000000000",
                    "FLASHSALE_DRAW_ENTRIES_PER_ADDRESS": "1000000000"})
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90.0) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [*flashsale_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--workers", str(self.workers)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=self.workdir, env=self.environment(),
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"flashsale serve exited ({self.process.returncode}):\n"
                                       f"{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    answer = client.get(f"{self.url}/healthz")
                    if answer.status_code == 200 and answer.json().get("status") == "ok":
                        if not self._listening():
                            self.stop()
                            raise RuntimeError(f"port {self.port} answers, but not from our server: taken meanwhile")
                        return self.url
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"flashsale serve did not become healthy in {timeout:.0f}s:\n{self.log_tail()}")

    def _listening(self) -> bool:
        """Whether one of our processes holds the port (uvicorn does not fail when it is taken)."""
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                if any(c.laddr and c.laddr.port == self.port and c.status == psutil.CONN_LISTEN
                       for c in process.net_connections(kind="tcp")):
                    return True
        return False

    def create_user(self, email: str, password: str, role: str) -> None:
        done = subprocess.run([*flashsale_command(), "user", "create", "--email", email,
                               "--password", password, "--role", role],
                              cwd=self.workdir, env=self.environment(), capture_output=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"flashsale user create failed: {done.stderr.decode(errors='replace')[-500:]}")

    def processes(self) -> list[psutil.Process]:
        """The supervisor, its uvicorn workers and the embedded Valkey."""
        if self.process is None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (multiprocessing spawns them; not its resource tracker, not Valkey)."""
        pids = []
        for process in self.processes()[1:]:
            with contextlib.suppress(psutil.Error):
                if "spawn_main" in " ".join(process.cmdline()):
                    pids.append(process.pid)
        return pids

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        leftovers = self.processes()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)  # serve stops its workers and Valkey
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        _, alive = psutil.wait_procs(leftovers[1:], timeout=5)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
