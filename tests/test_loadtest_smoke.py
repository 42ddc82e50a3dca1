"""A short rehearsal end to end: `flashsale loadtest` starts its own server (embedded defaults in a temp
dir), sells a small drop with Locust, verifies the invariants from the API and SQL, writes the reports.
It checks the invariants and the report files, not the speed (the rate check is off)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from loadtest.server import flashsale_command

# `flashsale loadtest` starts its own server on the embedded defaults, whatever the pass.
pytestmark = [pytest.mark.slow, pytest.mark.neutral]


def test_short_rehearsal_sells_out_with_every_invariant_holding(tmp_path: Path) -> None:
    # Locust runs a master and two worker processes: each takes its own buyers, and the master gathers
    # the counts (the paid orders checked against SQL come from both). The variants rehearsal below
    # runs in one process, the default.
    processes = 2
    report = tmp_path / "report"
    command = [*flashsale_command(), "loadtest", "--stock", "200", "--units-per-second", "100",
               "--duration", "4", "--browsers", "3", "--tolerance", "0", "--processes", str(processes),
               "--report-dir", str(report)]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "result: PASS" in done.stdout

    summary = json.loads((report / "summary.json").read_text())
    checks = {check["name"]: check["ok"] for check in summary["checks"]}
    # Every invariant was checked, none skipped: the SQL checks read the server's own database.
    assert checks == {name: True for name in (
        "stock conserved at every sample", "stock conserved", "never oversold", "never oversold (SQL)",
        "no buyer above the limit", "every paid unit is an order row", "no 5xx", "no unexpected answers")}
    stats = summary["stats"]
    assert stats["remaining"] + stats["reserved"] + stats["paid"] == stats["stock"] == 200
    assert summary["sold_out"] and stats["remaining"] == 0 and stats["paid"] > 0
    assert summary["units"] >= 200 and summary["purchase_answers"]["201"] >= 200
    assert summary["purchase_answers"].get("409 sold_out", 0) > 0  # the rush went on after the sell-out
    assert summary["cpu"]["generator"] > 0 and summary["purchase_ms"]["99%"] > 0
    assert 0 < summary["answers_by_request"]["/api/orders/[id]/pay"]["200"] <= stats["paid"]

    for name in ("locust.html", "locust_stats.csv", "locust_failures.csv", "locust_stats_history.csv"):
        assert (report / name).stat().st_size > 0, name
    assert "/api/drops/[id]/purchase" in (report / "locust_stats.csv").read_text()
    assert not list(report.glob("plan*.json"))  # the plan holds tokens: never in the report directory


def test_short_rehearsal_with_variants_holds_every_invariant_per_variant(tmp_path: Path) -> None:
    """`--variants 3`: the stock split across three variants, buyers choose one still on sale (a sold-out
    variant's 409 sends them to the others), and the checks hold for each variant: stock conserved at
    every sample and at the end, never oversold (Redis and SQL), SQL's counts equal to Redis'."""
    report = tmp_path / "report"
    command = [*flashsale_command(), "loadtest", "--stock", "150", "--variants", "3", "--units-per-second", "100",
               "--duration", "4", "--browsers", "2", "--tolerance", "0", "--report-dir", str(report)]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "result: PASS" in done.stdout and "in 3 variants [50, 50, 50]" in done.stdout

    summary = json.loads((report / "summary.json").read_text())
    checks = {check["name"]: check["ok"] for check in summary["checks"]}
    for name in ("stock conserved at every sample", "stock conserved per variant", "never oversold per variant",
                 "never oversold per variant (SQL)", "counts exact per variant (SQL = Redis)",
                 "every paid unit is an order row", "no unexpected answers"):
        assert checks[name] is True, (name, summary["checks"])
    variants = summary["stats"]["variants"]
    assert len(variants) == 3 and all(v["stock"] == 50 and v["remaining"] == 0 for v in variants.values())
    assert sum(v["paid"] for v in variants.values()) == summary["stats"]["paid"] > 0
    assert summary["sold_out"] and summary["purchase_answers"].get("409 sold_out", 0) > 0
    # Every buyer call's latency is reported, by request.
    assert {"POST /api/drops/[id]/purchase", "/api/orders/[id]/pay"} <= set(summary["latency_by_request"])
    assert summary["latency_by_request"]["/api/orders/[id]/pay"]["99%"] > 0
