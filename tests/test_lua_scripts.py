"""A server that lacks a script (restarted, flushed, failed over) gets it again: direct and pipelined calls."""
from __future__ import annotations

import uuid

import pytest
from redis.exceptions import NoScriptError, ResponseError

from core.redis import LuaScript, connect_redis
from core.settings import Settings

pytestmark = pytest.mark.cluster  # scripts loaded on every primary, NOSCRIPT after a flush of every node


def fresh_script(body: str) -> LuaScript:
    """A script the server has never seen (its SHA is unique), so the first EVALSHA answers NOSCRIPT."""
    return LuaScript("probe", f"-- {uuid.uuid4().hex}\n{body}")


async def test_a_pipelined_call_is_repeated_after_noscript(settings: Settings) -> None:
    redis = await connect_redis(settings.redis_url)  # a cluster client on a cluster
    script = fresh_script("return ARGV[1] .. KEYS[1]")
    try:
        async with redis.pipeline(transaction=False) as pipe:
            script.queue(pipe, ["k"], ["v"])
            (reply,) = await pipe.execute(raise_on_error=False)
        assert isinstance(reply, NoScriptError)
        assert await script.settle(redis, reply, ["k"], ["v"]) == b"vk"
        assert await redis.script_exists(script.sha) == [True]  # loaded again for the next calls
        assert await script(redis, ["a"], ["b"]) == b"ba"
    finally:
        await redis.aclose()


async def test_a_pipelined_script_error_is_raised(settings: Settings) -> None:
    redis = await connect_redis(settings.redis_url)  # a cluster client on a cluster
    script = fresh_script("return redis.error_reply('boom')")
    try:
        await script.load(redis)
        async with redis.pipeline(transaction=False) as pipe:
            script.queue(pipe, [], [])
            (reply,) = await pipe.execute(raise_on_error=False)
        with pytest.raises(ResponseError, match="boom"):
            await script.settle(redis, reply, [], [])
    finally:
        await redis.aclose()
