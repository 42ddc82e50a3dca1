"""A serving install carries no load-test tools; `flashsale loadtest` without them says how to get them."""
from __future__ import annotations

import importlib.util
import re
from importlib.metadata import PackageNotFoundError, requires

import pytest
from typer.testing import CliRunner

from app.cli import LOADTEST_HINT, cli

REHEARSAL_ONLY = {"locust", "gevent", "geventhttpclient", "psutil"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _runtime_closure(dist: str, seen: set[str] | None = None) -> set[str]:
    """Every distribution a plain `pip install <dist>` pulls in (requirements without an extra marker)."""
    seen = set() if seen is None else seen
    try:
        requirements = requires(dist) or []
    except PackageNotFoundError:
        return seen
    for requirement in requirements:
        if "extra ==" in requirement.replace('extra=="', 'extra == "'):
            continue
        name = _name(requirement)
        if name not in seen:
            seen.add(name)
            _runtime_closure(name, seen)
    return seen


def test_plain_install_pulls_in_no_load_test_tools() -> None:
    closure = _runtime_closure("flashsale")
    assert {"fastapi", "redis", "sqlmodel"} <= closure  # the walk really follows the requirements
    assert not closure & REHEARSAL_ONLY, closure & REHEARSAL_ONLY


def test_loadtest_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def without_locust(name: str, *args: object) -> object:
        return None if name == "locust" else real_find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", without_locust)
    result = CliRunner().invoke(cli, ["loadtest", "--stock", "10"])
    assert result.exit_code == 2
    assert "pip install 'flashsale[loadtest]'" in LOADTEST_HINT
    assert LOADTEST_HINT in result.output
