"""CI's cluster pass runs only the tests marked `cluster`: these checks keep that honest. A test module
that uses cluster-specific code (tests/support/topology.py names it) must carry the marker, and on a
single Redis every command must keep to one hash slot (tests/support/slots.py), as a Cluster would
demand of the unmarked tests it no longer runs."""
from __future__ import annotations

from pathlib import Path

import pytest
from redis.exceptions import RedisClusterException, RedisError

from core.redis import connect_redis
from core.settings import Settings
from tests.support.slots import KeyTable, slot_checked
from tests.support.topology import NAMES, helper_names, scan, unmarked

pytestmark = pytest.mark.cluster  # it names the cluster-specific helpers itself

TESTS = Path(__file__).resolve().parent

HELPER = '''
import redis
def client(url):
    return redis.RedisCluster.from_url(url)
def wrapped(url):
    return client(url)
'''


def test_every_module_using_cluster_code_is_marked() -> None:
    assert scan(TESTS) == [], "add `pytestmark = pytest.mark.cluster` to these modules (or drop the use)"


def test_the_scan_finds_direct_and_indirect_uses() -> None:
    names = helper_names([HELPER])
    assert {"client", "wrapped"} <= names and names >= NAMES
    modules = {
        "test_direct.py": "import redis\ndef test_a():\n    redis.RedisCluster.from_url('x')\n",
        "test_helper.py": "from tests.support import wrapped\ndef test_b():\n    wrapped('x')\n",
        "test_script.py": "import subprocess\ndef test_c():\n    subprocess.run(['scripts/redis-cluster', 'start'])\n",
        "test_marked.py": "import pytest, redis\npytestmark = pytest.mark.cluster\ndef test_d():\n"
                          "    redis.RedisCluster\n",
        "test_listed.py": "import pytest, redis\npytestmark = [pytest.mark.slow, pytest.mark.cluster]\n"
                          "def test_e():\n    redis.RedisCluster\n",
        "test_other_mark.py": "import pytest, redis\npytestmark = pytest.mark.slow\ndef test_f():\n"
                              "    redis.RedisCluster\n",
        "test_plain.py": "def test_g():\n    assert 'cluster' != 'plain'\n",
    }
    assert [u.path for u in unmarked(modules, names)] == [
        "test_direct.py", "test_helper.py", "test_other_mark.py", "test_script.py"]


def key_table(url: str) -> KeyTable:
    return KeyTable.from_server(url)


def test_key_positions_of_commands_scripts_and_streams(redis_url: str) -> None:
    table = key_table(redis_url)
    assert table.keys(["GET", "a"]) == ["a"]
    assert table.keys(["MSET", "a", "1", "b", "2"]) == ["a", "b"]
    assert table.keys(["DEL", "a", "b", "c"]) == ["a", "b", "c"]
    assert table.keys(["EVALSHA", "f" * 40, 2, "a", "b", "arg"]) == ["a", "b"]
    assert table.keys(["XREADGROUP", "GROUP", "g", "c", "COUNT", 5, "STREAMS", "s1", "s2", ">", ">"]) == ["s1", "s2"]
    assert table.keys(["SCRIPT LOAD", "return 1"]) == []
    assert table.cross_slot([["MGET", "{drop:1}:a", "{drop:2}:b"]])
    assert not table.cross_slot([["MGET", "{drop:1}:a", "{drop:1}:b"]])
    assert table.cross_slot([["GET", "{drop:1}:a"], ["GET", "{drop:2}:a"]])  # one MULTI block


async def test_a_cross_slot_command_is_reported(settings: Settings, slot_violations: list[str] | None) -> None:
    redis = await connect_redis(settings.redis_url)
    prefix = settings.redis_prefix
    one, other = f"{prefix}:{{drop:1}}:a", f"{prefix}:{{drop:2}}:a"
    try:
        if slot_violations is None:  # on a Cluster: what the check stands in for
            with pytest.raises((RedisClusterException, RedisError), match="slot"):
                await redis.mget(one, other)
            return
        seen: list[str] = []
        with slot_checked(key_table(settings.redis_url), seen.append):
            await redis.mget(one, f"{prefix}:{{drop:1}}:b")
            assert seen == []
            await redis.mget(one, other)
            async with redis.pipeline(transaction=True) as pipe:
                pipe.get(one).get(other)
                await pipe.execute()
            await redis.eval("return 1", 2, one, f"{prefix}:{{drop:3}}:a")
        assert [line.split()[0] for line in seen] == ["MGET", "MULTI", "EVAL"]
        assert len(slot_violations) == 3  # the suite's own check saw them too: taken off, this test stays clean
        slot_violations.clear()
    finally:
        await redis.aclose()
