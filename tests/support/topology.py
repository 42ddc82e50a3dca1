"""Which test modules use cluster-specific code and so must be marked `cluster` (CI's cluster pass runs
only those; tests/test_cluster_marks.py fails on an unmarked one).

Cluster-specific: redis-py's cluster client and node maps, the app's topology switches in core/redis.py,
the local cluster script, failover, HAProxy. A test helper (tests/support) that uses one of them makes
every module calling it cluster-specific too."""
from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

NAMES = frozenset({
    "RedisCluster", "ClusterPipeline", "GatedRedisCluster", "make_cluster", "is_cluster", "is_cluster_client",
    "primaries", "get_primaries", "get_node_from_key", "get_nodes", "cluster_keyslot", "ClusterError",
    "ClusterDownError", "SlotNotCoveredError", "TryAgainError", "MovedError", "AskError",
})
STRINGS = ("redis-cluster", "haproxy", "CLUSTER ", "cluster_state")


def _uses(tree: ast.AST, names: frozenset[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names:
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in names:
            found.add(node.attr)
        elif isinstance(node, ast.alias) and (node.asname or node.name).split(".")[-1] in names:
            found.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(s.strip() for s in STRINGS if s in node.value)
    return found


def helper_names(support: Iterable[str]) -> frozenset[str]:
    """NAMES plus every function or class of the support modules that uses one (to a fixed point)."""
    trees = [ast.parse(source) for source in support]
    names = set(NAMES)
    while True:
        grown = {node.name for tree in trees for node in ast.walk(tree)
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                 and node.name not in names and _uses(node, frozenset(names))}
        if not grown:
            return frozenset(names)
        names |= grown


def marked_cluster(tree: ast.Module) -> bool:
    """A module-level `pytestmark` naming pytest.mark.cluster (alone or in a list)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                for t in node.targets):
            values = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            return any(isinstance(v, ast.Attribute) and v.attr == "cluster" for v in values)
    return False


@dataclass(frozen=True)
class Unmarked:
    path: str
    uses: tuple[str, ...]


def unmarked(modules: dict[str, str], names: frozenset[str]) -> list[Unmarked]:
    """Test modules (path -> source) that use cluster-specific names without the module marker."""
    found = []
    for path, source in sorted(modules.items()):
        tree = ast.parse(source)
        uses = _uses(tree, names)
        if uses and not marked_cluster(tree):
            found.append(Unmarked(path, tuple(sorted(uses))))
    return found


def scan(tests: Path) -> list[Unmarked]:
    # clock.py's app on a ManualClock touches the topology only in its teardown (delete_prefix, as
    # conftest's session app does): using it says nothing about a test's behaviour on a cluster.
    support = [p.read_text(encoding="utf-8") for p in sorted((tests / "support").glob("*.py"))
               if p.name not in {"topology.py", "slots.py", "clock.py"}]
    modules = {str(p.relative_to(tests)): p.read_text(encoding="utf-8") for p in sorted(tests.rglob("test_*.py"))}
    return unmarked(modules, helper_names(support))
