"""`flashsale serve` runs the message loops in a process of its own, below the web workers' CPU priority:
restarted when it dies, gone when `serve` is gone (even killed outright). Its sending is tested through
`serve` in tests/test_messages_restart.py (the workers there run no message loop of their own)."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from core.net import free_port
from tests.test_platform import clean_environment, flashsale_command

# `flashsale serve` in a fresh directory: the embedded defaults, whatever the pass.
pytestmark = [pytest.mark.slow, pytest.mark.neutral]


def _messages_children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"messages" in command:
            found.append(int(entry.name))
    return found


def _wait_for(check: object, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("not in time")


def test_serve_runs_the_message_loops_in_a_lower_priority_child_restarted_and_never_orphaned(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen([flashsale_command(), "serve", "--port", str(port)], cwd=tmp_path,
                               env=clean_environment(tmp_path, FLASHSALE_DEMO="false"), stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(lambda: _healthy(port), timeout=90)
        first = _wait_for(lambda: _messages_children(process.pid))
        assert isinstance(first, list) and len(first) == 1
        # Below the web workers (nice 19), from its start on, and in serve's session: Linux shares the CPU
        # between sessions (autogroups) before niceness counts, so a session of its own would undo it.
        # A process group of its own: a Ctrl-C at the terminal reaches serve, which stops it.
        _wait_for(lambda: os.getpriority(os.PRIO_PROCESS, first[0]) == 19, timeout=20)
        assert os.getsid(first[0]) == os.getsid(process.pid)
        assert os.getpgid(first[0]) == first[0] != os.getpgid(process.pid)
        os.kill(first[0], signal.SIGKILL)
        again = _wait_for(lambda: [pid for pid in _messages_children(process.pid) if pid != first[0]])
        assert isinstance(again, list) and len(again) == 1
        os.killpg(process.pid, signal.SIGKILL)  # serve and its workers; the child has a process group of its own
        process.wait()
        _wait_for(lambda: not Path(f"/proc/{again[0]}").exists() or _zombie(again[0]), timeout=15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _zombie(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
