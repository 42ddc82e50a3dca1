"""Copies the per-test seconds of the last runs (pytest's cache, written by tests/conftest.py) into
tests/durations.json, which orders a clean clone's run (CI) longest first. Run after a full `make test`.

    .venv/bin/python scripts/durations.py
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".pytest_cache" / "v" / "flashsale" / "durations"
COMMITTED = ROOT / "tests" / "durations.json"


def main() -> None:
    measured: dict[str, float] = json.loads(CACHE.read_text())
    kept = {name: round(seconds, 1) for name, seconds in sorted(measured.items()) if seconds >= 0.1}
    COMMITTED.write_text(json.dumps(kept, indent=0) + "\n")
    print(f"{len(kept)} tests' seconds in {COMMITTED.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
