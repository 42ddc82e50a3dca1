"""Cluster slot discipline, checked on a single Redis: every command the test process sends (and every
MULTI block as a whole) must name keys of one hash slot, as a Redis Cluster requires (else CROSSSLOT).

This is what lets CI's cluster pass run only the tests marked `cluster` (the ones whose behaviour
depends on topology): the embedded and PostgreSQL + Redis passes run every test and, through this
check, fail any command that a Cluster would refuse. Key positions come from the server's own
COMMAND table; scripts and streams, whose keys move, are read by hand."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from redis.asyncio.client import Pipeline, Redis
from redis.crc import key_slot

# The one command that names keys of several slots on purpose: the order sink's single XREADGROUP over
# every active stream, sent only to a single Redis (sale/sink.py; on a Cluster it reads per stream,
# which the tests marked `cluster` run).
EXEMPT = frozenset({"XREADGROUP", "XREAD"})


def _word(value: Any) -> str:
    return (value.decode() if isinstance(value, bytes) else str(value)).upper()


def _encode(key: Any) -> bytes:
    return key if isinstance(key, bytes) else str(key).encode()


class KeyTable:
    """Where each command's keys sit, from COMMAND (first key, last key, step)."""

    def __init__(self, table: dict[str, tuple[int, int, int]]) -> None:
        self.table = table

    @classmethod
    def from_server(cls, url: str) -> KeyTable:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            info = client.command()
        finally:
            client.close()
        return cls({name.upper(): (int(spec["first_key_pos"]), int(spec["last_key_pos"]), int(spec["step_count"]))
                    for name, spec in info.items()})

    def keys(self, args: Sequence[Any]) -> list[Any]:
        if not args:
            return []
        words = [_word(a) for a in args[0].split()] if isinstance(args[0], str) else [_word(args[0])]
        args = (*words, *args[1:])
        name = words[0]
        if name in {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"}:
            count = int(args[2])
            return list(args[3:3 + count])
        if name in {"XREAD", "XREADGROUP"}:
            upper = [_word(a) if isinstance(a, str | bytes) else "" for a in args]
            if "STREAMS" not in upper:
                return []
            rest = args[upper.index("STREAMS") + 1:]
            return list(rest[:len(rest) // 2])
        first, last, step = self.table.get(name, (0, 0, 0))
        if first <= 0 or step <= 0:
            return []
        end = len(args) + last if last < 0 else last
        return list(args[first:end + 1:step])

    def cross_slot(self, commands: Sequence[Sequence[Any]]) -> bool:
        """True when these commands' keys (taken together) hash to more than one slot."""
        slots = {key_slot(_encode(key)) for args in commands for key in self.keys(args)}
        return len(slots) > 1


@contextmanager
def slot_checked(table: KeyTable, report: Callable[[str], None]) -> Iterator[None]:
    """Patches redis-py's asyncio client for the duration: each cross-slot command is reported (the
    command still runs, so a failure names the command rather than a symptom downstream)."""
    plain = Redis.execute_command
    execute = Pipeline.execute

    def describe(commands: Sequence[Sequence[Any]]) -> str:
        return " ; ".join(" ".join(str(a)[:60] for a in args[:8]) for args in commands)

    async def execute_command(self: Redis, *args: Any, **options: Any) -> Any:
        if _word(args[0]) not in EXEMPT and table.cross_slot([args]):
            report(describe([args]))
        return await plain(self, *args, **options)

    async def pipeline_execute(self: Pipeline, raise_on_error: bool = True) -> Any:
        commands = [args for args, _ in self.command_stack]
        if self.is_transaction and table.cross_slot(commands):
            report("MULTI " + describe(commands))
        for args in commands:
            if _word(args[0]) not in EXEMPT and table.cross_slot([args]):
                report(describe([args]))
        return await execute(self, raise_on_error)

    Redis.execute_command = execute_command  # type: ignore[method-assign]
    Pipeline.execute = pipeline_execute  # type: ignore[method-assign]
    try:
        yield
    finally:
        Redis.execute_command = plain  # type: ignore[method-assign]
        Pipeline.execute = execute  # type: ignore[method-assign]
