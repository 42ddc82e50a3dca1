"""The message loops in a process of their own: `flashsale serve` starts `flashsale messages` beside its
web workers, so that the drop-open burst into the outbox (a row per reminder) and the sending of every
receipt and "your turn" never share an event loop with buyers' requests. The process runs at a lower
CPU priority: in a rush the buyers' workers go first and messages wait a moment (they are durable in
the outbox; a restart neither loses nor repeats one). It is restarted if it ends unexpectedly."""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading

from core.settings import Settings

log = logging.getLogger("flashsale.messages")
NICENESS = 19  # below the web workers, in their session (CFS: about 1/70 of a worker's share when both want the CPU)
RESTART_PAUSE_SECONDS = 1.0
PARENT_CHECK_SECONDS = 1.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class MessagesProcess:
    """Supervises one `flashsale messages` child: started now, restarted when it dies, stopped by stop()."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._stopping = threading.Event()
        self._process = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="messages-process", daemon=True)
        self._watcher.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        pdeathsig = die_with_parent if sys.platform == "linux" else None
        # A process group of its own: a Ctrl-C at the terminal reaches `serve`, which stops this one (a
        # child that saw it too would end first and be started again). Not a session of its own: Linux
        # gives each session an equal CPU share (autogroups), whatever the niceness inside, so the
        # messages process in a session of its own took as much CPU as both web workers in a rush.
        return subprocess.Popen([sys.executable, "-m", "app.cli", "messages"], env=self._env,
                                process_group=0, preexec_fn=pdeathsig)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            code = self._process.wait()
            if self._stopping.is_set():
                return
            log.warning("the messages process ended (%s): starting it again", code)
            if self._stopping.wait(RESTART_PAUSE_SECONDS):
                return
            self._process = self._spawn()

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._watcher.join(timeout=timeout)


def die_with_parent() -> None:
    """In the child before it runs: the kernel sends it SIGTERM when the thread that started it ends
    (prctl PR_SET_PDEATHSIG), so a `serve` killed outright (SIGKILL) takes its messages process along."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_messages_process(settings: Settings) -> MessagesProcess | None:
    """Moves the message loops out of the web workers (which read FLASHSALE_MESSAGE_LOOPS=false from
    the environment) into a child process; None when they are off here."""
    if not settings.message_loops:
        return None
    child = dict(os.environ)
    os.environ["FLASHSALE_MESSAGE_LOOPS"] = "false"  # the web workers started after this
    return MessagesProcess(child)


def run_messages(settings: Settings) -> None:
    """`flashsale messages`: the message loops until SIGTERM or SIGINT, at a lower CPU priority."""
    from app.bootstrap import running
    from app.wiring import message_loops

    with contextlib.suppress(OSError):
        os.nice(NICENESS)

    parent = os.getppid()

    async def orphaned(stop: asyncio.Event) -> None:
        # `serve` killed outright (SIGKILL) cannot stop its child: the child sees its parent change.
        while not stop.is_set():
            if os.getppid() != parent:
                log.warning("flashsale serve is gone: the messages process stops")
                stop.set()
            await asyncio.sleep(PARENT_CHECK_SECONDS)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with running(settings, background=False) as services:
            tasks = [*message_loops(services), asyncio.create_task(orphaned(stop), name="parent-watch")]
            await stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
