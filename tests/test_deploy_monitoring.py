"""deploy/ stays true to /metrics: every flashsale metric the alert rules and the Grafana dashboard
query is one the service exposes, every alert has a runbook section, and the dashboard has the
live drop's panels. (promtool checks and unit-tests the rules themselves: `make rules`, in CI.)"""
from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.support import runtime_of

ROOT = Path(__file__).resolve().parent.parent
RULES = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text(encoding="utf-8")
DASHBOARD = json.loads((ROOT / "deploy" / "grafana" / "flashsale-live-drop.json").read_text(encoding="utf-8"))
RUNBOOK = (ROOT / "deploy" / "RUNBOOK.md").read_text(encoding="utf-8")
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def queried(text: str) -> set[str]:
    """Metric names in PromQL text (recorded series, `flashsale:...`, are not the service's)."""
    return set(re.findall(r"\b(flashsale_[a-z0-9_]+)", text))


def exposed_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names | {n + s for n in names for s in SUFFIXES}


async def test_every_metric_the_rules_and_dashboard_query_is_exposed(app: FastAPI, client: httpx.AsyncClient,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_of(app).settings, "metrics_max_age_seconds", 0)
    exposed = exposed_names((await client.get("/metrics")).text)
    expressions = " ".join(t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", []))
    wanted = queried(RULES) | queried(expressions)
    assert {"flashsale_order_writer_lag_seconds", "flashsale_payments_total", "flashsale_outbox_backlog",
            "flashsale_redis_up", "flashsale_database_up", "flashsale_drop_units_left"} <= wanted
    assert wanted <= exposed, sorted(wanted - exposed)


def test_every_alert_has_its_runbook_section() -> None:
    alerts = re.findall(r"^\s+- alert: (\w+)$", RULES, re.M)
    assert len(alerts) >= 7
    headings = {h.strip().lower() for h in re.findall(r"^## (.+)$", RUNBOOK, re.M)}
    for alert in alerts:
        assert alert.lower() in headings, alert
        assert f"deploy/RUNBOOK.md#{alert.lower()}" in RULES, alert


def test_the_dashboard_shows_a_live_drop() -> None:
    titles = {p["title"] for p in DASHBOARD["panels"]}
    assert {"Units left", "Purchases by outcome", "Order writer lag", "p99 latency by route", "Queue depth per drop",
            "Payments by outcome"} <= titles
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids)) and DASHBOARD["uid"] == "flashsale-live-drop"
