"""Redis client and Lua script registry, made in the lifespan.

`connect_redis` asks the server named by the URL for `CLUSTER INFO`: a Redis Cluster node answers
(any node: primary or replica), a plain server answers an error. The service then holds a
`RedisCluster` or a plain `Redis` behind one type, `RedisClient`. Everything the code sends works on
both: every script's keys share one hash tag, and no command names keys of two slots.
"""
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from contextvars import ContextVar
from importlib import resources
from typing import Any, TypeAlias

import hiredis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import Connection
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

RedisClient: TypeAlias = Redis | RedisCluster
ScriptArg: TypeAlias = str | int | float | bytes


class HiredisPackedConnection(Connection):
    """Packs commands with hiredis (C) instead of redis-py's per-argument Python encoder: the
    purchase script's EVALSHA carries twenty arguments, and packing them was a visible cost."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:
            args = (*args[0].split(), *args[1:])  # "SCRIPT LOAD" and friends are two words on the wire
        return [hiredis.pack_command(args)]


def make_redis(url: str, *, max_connections: int = 128) -> Redis:
    """A plain (non-cluster) client."""
    # A blocking pool: a burst of requests waits briefly for a connection instead of failing.
    kwargs: dict[str, Any] = {}
    if url.startswith("redis://"):
        kwargs["connection_class"] = HiredisPackedConnection
    # Timeouts instead of hangs, and no silent retries (the pool's connections retry 0 times): a
    # script whose reply was lost may have run (a retried purchase would take a second unit), so a
    # failed call is the request's 503, and the client retries it safely with its Idempotency-Key.
    # One DriverInfo for the pool: without it each new connection looks redis-py's version up in the
    # installed packages' metadata (importlib.metadata), 4% of a pay request's CPU at a sale's open,
    # when the pool grows. (The cluster client resolves it once already.)
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10,
                                           health_check_interval=30, socket_keepalive=True,
                                           socket_connect_timeout=10, socket_timeout=30,
                                           driver_info=DriverInfo(), **kwargs)
    return Redis(connection_pool=pool, decode_responses=False)


_INSIDE_GATE: ContextVar[bool] = ContextVar("inside_redis_gate", default=False)


class GatedRedisCluster(RedisCluster):
    """redis-py's cluster client refuses a command (MaxConnectionsError) when a node's pool is full,
    where the plain client's BlockingConnectionPool waits. A burst of buyers must wait, not fail:
    commands and pipelines pass a semaphore as wide as one node's pool, so no node ever runs out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Semaphore(int(kwargs.get("max_connections", 128)))

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if _INSIDE_GATE.get():  # a pipeline retrying a redirected command: it holds a place already
            return await super().execute_command(*args, **kwargs)
        async with self.gate:
            try:
                return await super().execute_command(*args, **kwargs)
            except AttributeError as exc:
                raise _lost(exc) from exc

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        return GatedClusterPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py's own


def _lost(exc: AttributeError) -> RedisConnectionError:
    """redis-py 8's cluster client (commands and pipelines alike) writes to a connection that a
    failover closed meanwhile ("'NoneType' object has no attribute 'writelines'"): a lost connection,
    so the request's 503, never a 500."""
    return RedisConnectionError(f"connection lost during a cluster change: {exc}")


class GatedClusterPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        client = self.cluster_client
        assert isinstance(client, GatedRedisCluster)
        async with client.gate:
            token = _INSIDE_GATE.set(True)
            try:
                return await super().execute(raise_on_error, allow_redirections)
            except AttributeError as exc:
                raise _lost(exc) from exc
            finally:
                _INSIDE_GATE.reset(token)


def make_cluster(url: str, *, max_connections: int = 128) -> RedisCluster:
    """A cluster client: routes each command by its key's slot, follows MOVED/ASK, and learns the new
    topology after a failover. Commands to a node that is down raise ConnectionError/ClusterDownError,
    which the web tier answers with 503 and Retry-After."""
    kwargs: dict[str, Any] = {}
    if url.startswith("redis://"):
        kwargs["connection_class"] = HiredisPackedConnection
    return GatedRedisCluster.from_url(url, decode_responses=False, max_connections=max_connections,
                                      socket_keepalive=True, socket_connect_timeout=1.0, socket_timeout=5.0,
                                      **kwargs)


async def is_cluster(url: str) -> bool:
    """True when the server at `url` is a Redis Cluster node (it answers CLUSTER INFO)."""
    probe = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        info = await probe.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
    except ResponseError:
        return False  # "ERR This instance has cluster support disabled"
    finally:
        await probe.aclose()
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:" in text


async def connect_redis(url: str, *, max_connections: int = 128) -> RedisClient:
    """The one client of a worker: a RedisCluster when the URL names a cluster node, else plain Redis."""
    if await is_cluster(url):
        return make_cluster(url, max_connections=max_connections)
    return make_redis(url, max_connections=max_connections)


def is_cluster_client(redis: RedisClient) -> bool:
    return isinstance(redis, RedisCluster)


async def primaries(redis: RedisClient) -> list[Redis]:
    """One plain client per primary (a single one outside a cluster): for per-node work such as
    SCAN in tests and tools, or INFO figures. The caller closes them."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()  # the node map is fetched on first use
        return [Redis(host=node.host, port=int(node.port)) for node in redis.get_primaries()]
    kwargs = redis.connection_pool.connection_kwargs
    return [Redis(host=str(kwargs.get("host", "127.0.0.1")), port=int(kwargs.get("port", 6379)),
                  db=int(kwargs.get("db", 0)))]



class LuaScript:
    """One .lua file, called by EVALSHA and loaded again when the server answers NOSCRIPT."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def load(self, redis: RedisClient) -> None:
        # A cluster client sends SCRIPT LOAD to every primary. A replica promoted by a failover, or a
        # node added later, lacks the script: the NOSCRIPT path below loads it there.
        await redis.script_load(self.source)

    async def __call__(self, redis: RedisClient, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.load(redis)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)

    def queue(self, pipe: Pipeline | ClusterPipeline, keys: Sequence[str], args: Sequence[ScriptArg]) -> None:
        """Adds a call to a pipeline; run the pipeline with raise_on_error=False, then `settle` the reply.
        The command itself, not pipe.evalsha(): redis-py's cluster pipeline refuses that method."""
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)

    async def settle(self, redis: RedisClient, reply: Any, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """The reply of a pipelined call: a server that lost its scripts (NOSCRIPT) gets this one again
        and the call is repeated; any other error is raised."""
        if isinstance(reply, NoScriptError):
            return await self(redis, keys, args)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def call_and_wait(self, redis: RedisClient, keys: Sequence[str], args: Sequence[ScriptArg],
                            replicas: int, timeout_ms: int) -> tuple[Any, int]:
        """EVALSHA, then WAIT on the same connection (WAIT counts that connection's writes): returns the
        script's reply and how many replicas acknowledged its writes within `timeout_ms`."""
        for attempt in range(2):
            async with redis.pipeline(transaction=False) as pipe:
                pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
                if isinstance(redis, RedisCluster):
                    await redis.initialize()
                    pipe.execute_command("WAIT", replicas, timeout_ms, target_nodes=redis.get_node_from_key(keys[0]))
                else:
                    pipe.execute_command("WAIT", replicas, timeout_ms)
                result, acknowledged = await pipe.execute(raise_on_error=False)
            if isinstance(result, NoScriptError) and attempt == 0:
                await self.load(redis)
                continue
            for reply in (result, acknowledged):
                if isinstance(reply, Exception):
                    raise reply
            return result, int(acknowledged)
        raise NoScriptError(f"script {self.name} could not be loaded")


def load_script(package: str, filename: str) -> LuaScript:
    source = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    return LuaScript(filename.removesuffix(".lua"), source)


class ScriptRegistry:
    """All scripts of the service, registered once at start-up (SCRIPT LOAD)."""

    def __init__(self) -> None:
        self._scripts: dict[str, LuaScript] = {}

    def add(self, package: str, filename: str) -> LuaScript:
        script = load_script(package, filename)
        self._scripts[script.name] = script
        return script

    def __getitem__(self, name: str) -> LuaScript:
        return self._scripts[name]

    async def load_all(self, redis: RedisClient) -> None:
        for script in self._scripts.values():
            await script.load(redis)
